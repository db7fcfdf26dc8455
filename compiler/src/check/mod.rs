//! Stage 4: validation passes over the model and the graph. Read-only; each pass
//! reports with its own stable code. Policy checks that estimate (SLO feasibility,
//! latency, retries) are warnings that show their arithmetic; `--deny-warnings` makes
//! them errors.

mod policy;
pub mod slo;

use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::graph::Topology;
use crate::model::Model;
use crate::suggest;

/// What the checks need besides the model.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// `--env`: must name a declared environment.
    pub env: Option<String>,
}

type Pass = fn(&Model, &Topology, &mut Diagnostics);

/// Every pass, in a fixed order.
const PASSES: &[(&str, Pass)] = &[
    ("slo-feasibility", slo::feasibility),
    ("latency-budget", slo::latency_budget),
    ("retry-amplification", slo::retry_amplification),
    ("nested-timeout", slo::nested_timeouts),
    ("route-policy", policy::linkerd_route_conflicts),
    ("tcp-route-policy", policy::tcp_route_policies),
    ("latency-bucket", slo::latency_buckets),
    ("metrics-endpoint", slo::metrics_endpoints),
    ("request-slis", slo::request_slis),
    ("tier", policy::tiers),
    ("rollout", policy::rollouts),
    ("mesh", policy::mesh_features),
    ("expose", policy::exposure),
    ("hosts", policy::hosts),
    ("node-ports", policy::node_ports),
    ("derived-names", policy::derived_names),
    ("names", policy::output_names),
    ("argocd-names", policy::argocd_names),
    ("argocd-namespaces", policy::argocd_namespaces),
];

pub fn check(model: &Model, topology: &Topology, opts: &CheckOptions, diags: &mut Diagnostics) {
    // The passes only read the model and the graph: they run on every thread.
    diags.par_each(PASSES, |(_, pass), local| pass(model, topology, local));
    if let Some(env) = &opts.env {
        let envs = model.project.environments();
        if !envs.iter().any(|e| e.name == *env) {
            let names: Vec<&str> = envs.iter().map(|e| e.name.as_str()).collect();
            diags.push(
                Diagnostic::error(
                    Code::UnknownEnvironment,
                    format!("unknown environment `{env}`"),
                )
                .with_label(
                    model.project.span,
                    "the project declares its environments here",
                )
                .with_help(suggest::help_for(
                    env,
                    names.iter().copied(),
                    "environment",
                )),
            );
        }
    }
}
