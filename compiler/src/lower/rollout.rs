//! The `rollout` node: rolling, canary or blue-green, with its steps.

use super::read::{arg_str, child, percent_of, prop_duration, prop_u32};
use crate::diag::{At, Code, Diagnostic, Diagnostics};
use crate::model::values;
use crate::model::{Rollout, RolloutKind, Step};
use crate::syntax::Node;

pub(super) fn lower_rollout(n: Option<&Node>, diags: &mut Diagnostics) -> Rollout {
    let Some(n) = n else {
        return Rollout {
            kind: RolloutKind::Rolling,
            steps: Vec::new(),
            abort_error_rate: None,
            abort_latency: None,
            abort_span: None,
            span: None,
        };
    };
    let kind = match arg_str(n, 0).as_deref() {
        Some("canary") => RolloutKind::Canary,
        Some("blue-green") => RolloutKind::BlueGreen,
        _ => RolloutKind::Rolling,
    };
    let steps = n
        .children
        .iter()
        .filter(|c| c.name == "step")
        .filter_map(|s| {
            let pause = prop_duration(s, "pause");
            // Argo Rollouts reads a pause as whole seconds, truncating the rest
            // (pkg/apis/rollouts/v1alpha1/types.go `RolloutPause.DurationSeconds`:
            // `int32(d.Seconds())`): "1.5s" would pause 1s, "500ms" not at all.
            if let Some(p) = &pause
                && let Err(d) = values::check_whole_seconds(
                    &p.value,
                    "`pause` of `step`",
                    "Argo Rollouts pauses whole seconds",
                )
                .at(p.span)
            {
                diags.push(d);
            }
            Some(Step {
                weight: prop_u32(s, "weight")?,
                pause: pause.map(|d| d.value),
                span: s.head_span(),
            })
        })
        .collect();
    let abort = child(&n.children, "abort-if");
    // A rolling update has no analysis and no steps: what is written for them would be
    // silently ignored.
    if kind == RolloutKind::Rolling {
        for c in n
            .children
            .iter()
            .filter(|c| c.name == "abort-if" || c.name == "step")
        {
            diags.push(
                Diagnostic::error(
                    Code::ConflictingEntries,
                    format!("`{}` has no effect on a rolling update", c.name),
                )
                .with_label(c.head_span(), "ignored by `rollout \"rolling\"`")
                .with_help("use `rollout \"canary\"` (steps and an analysis) or `rollout \"blue-green\"` (an analysis after promotion), or remove it"),
            );
        }
    }
    Rollout {
        kind,
        steps,
        abort_error_rate: abort
            .and_then(|a| a.prop("error-rate"))
            .and_then(percent_of),
        abort_latency: abort
            .and_then(|a| prop_duration(a, "latency"))
            .map(|d| d.value),
        abort_span: abort.map(Node::head_span),
        span: Some(n.ident_span()),
    }
}
