//! How a service's pods run: replicas, resources, volumes and the `schedule` that makes
//! it a CronJob.

use rust_decimal::Decimal;

use super::checks::check_mount_path;
use super::read::{arg_str, child, int_of, prop_bool, prop_str, prop_u32, quantity_of, str_of};
use crate::diag::{At, Code, Diagnostic, Diagnostics};
use crate::model::values::Quantity;
use crate::model::{Replicas, Resources, Schedule, Spanned, Volume};
use crate::source::Span;
use crate::syntax::{Node, Value};

pub(super) fn lower_replicas(node: &Node, kids: &[Node], diags: &mut Diagnostics) -> Replicas {
    let Some(n) = child(kids, "replicas") else {
        return Replicas {
            min: 1,
            max: None,
            cpu_target: 80,
            fixed: false,
            scale: None,
            span: node.ident_span(),
        };
    };
    let min = n
        .arg(0)
        .and_then(int_of)
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or(1);
    let mut max = prop_u32(n, "max");
    if let (Some(m), Some(e)) = (max, n.prop("max"))
        && m < min
    {
        diags.push(
            Diagnostic::error(
                Code::OutOfRange,
                format!("`max` ({m}) is below the replica count ({min})"),
            )
            .with_label(e.value_span, format!("must be at least {min}"))
            .with_help("`replicas N max=M` autoscales from N to M replicas; M must be at least N"),
        );
        max = None;
    }
    // An HPA's `minReplicas` is at least 1 (zero needs the HPAScaleToZero feature gate,
    // alpha since Kubernetes 1.16): a service at zero replicas cannot autoscale.
    if let (0, Some(_), Some(e)) = (min, max, n.prop("max")) {
        diags.push(
            Diagnostic::error(
                Code::ConflictingEntries,
                "a service with 0 replicas cannot autoscale",
            )
            .with_label(e.span, "`max=` would need an autoscaler that starts from zero")
            .with_help("start from at least one replica (`replicas 1 max=5`), or remove `max=` to keep the service stopped")
            .with_note("a HorizontalPodAutoscaler's minReplicas is at least 1 unless the alpha HPAScaleToZero feature gate is on"),
        );
        max = None;
    }
    Replicas {
        min,
        max: max.filter(|m| *m > min),
        cpu_target: prop_u32(n, "cpu-target").unwrap_or(80),
        fixed: false,
        scale: n.prop("scale").and_then(|e| match e.value {
            Value::Bool(b) => Some(Spanned::new(b, e.span)),
            _ => None,
        }),
        span: n.head_span(),
    }
}

/// Below this, a memory quantity is a mistake for a larger unit (4 MiB: less than any
/// runtime's container needs).
const MIN_MEMORY_BYTES: u64 = 4 << 20;

/// Above this, a CPU quantity is a mistake for millicores (`cpu=500` for `500m`). A pod
/// whose request exceeds every node's allocatable CPU stays Pending ("Insufficient cpu",
/// kube-scheduler's NodeResourcesFit), and the largest general-purpose machines of the
/// major clouds have 192 to 384 vCPUs, less what the kubelet reserves.
const MAX_CPU_CORES: u64 = 256;

pub(super) fn lower_resources(kids: &[Node], diags: &mut Diagnostics) -> Resources {
    let n = child(kids, "resources");
    let get = |key: &str| {
        n.and_then(|n| n.prop(key))
            .and_then(|e| quantity_of(e).map(|q| (q, e.value_span)))
    };
    let mut check_unit = |q: &Option<(Quantity, Span)>, memory: bool| {
        let Some((q, span)) = q else { return };
        if memory && q.suffix == "m" {
            diags.push(
                Diagnostic::error(
                    Code::InvalidQuantity,
                    format!("memory `{}` is in millibytes", q.text),
                )
                .with_label(*span, "`m` means one thousandth of a byte")
                .with_help(format!("did you mean `{}Mi`?", &q.text[..q.text.len() - 1])),
            );
        } else if memory && q.value < Decimal::from(MIN_MEMORY_BYTES) {
            // A quantity without a unit is bytes: `memory=512` is half a kibibyte, and
            // Kubernetes accepts it ("400m of memory is a request for 0.4 bytes": its
            // resource management page warns of exactly this). No container starts in
            // that: the runtime cannot create it, or the kernel kills it at once.
            let help = if q.suffix.is_empty() || q.suffix == "k" || q.suffix == "Ki" {
                let number = &q.text[..q.text.len() - q.suffix.len()];
                format!(
                    "did you mean `{number}Mi`? Memory is in bytes unless a suffix says otherwise (`Mi`, `Gi`)"
                )
            } else {
                "write at least a few mebibytes, e.g. \"64Mi\"".to_owned()
            };
            diags.push(
                Diagnostic::error(
                    Code::InvalidQuantity,
                    format!("memory `{}` is {} bytes", q.text, q.value.normalize()),
                )
                .with_label(*span, "too little memory for any container")
                .with_help(help),
            );
        } else if !memory && q.suffix.ends_with('i') {
            diags.push(
                Diagnostic::error(
                    Code::InvalidQuantity,
                    format!("CPU `{}` uses a memory unit", q.text),
                )
                .with_label(*span, "binary suffixes are for bytes")
                .with_help("CPU is counted in cores: \"500m\" is half a core, \"2\" is two"),
            );
        } else if !memory && q.value > Decimal::from(MAX_CPU_CORES) {
            let number = &q.text[..q.text.len() - q.suffix.len()];
            let help = if q.suffix.is_empty() {
                format!(
                    "did you mean `{number}m`? CPU is counted in cores unless it ends in `m`: \"500m\" is half a core"
                )
            } else {
                format!("a container gets at most {MAX_CPU_CORES} cores; \"500m\" is half a core")
            };
            diags.push(
                Diagnostic::error(
                    Code::InvalidQuantity,
                    format!("CPU `{}` is {} cores", q.text, q.value.normalize()),
                )
                .with_label(*span, "more CPU than a node has to give")
                .with_help(help),
            );
        }
    };
    let cpu = get("cpu");
    let memory = get("memory");
    let cpu_limit = get("cpu-limit");
    let memory_limit = get("memory-limit");
    check_unit(&cpu, false);
    check_unit(&cpu_limit, false);
    check_unit(&memory, true);
    check_unit(&memory_limit, true);
    let default = |text: &str| {
        Quantity::parse(text).unwrap_or(Quantity {
            text: text.into(),
            value: Decimal::ZERO,
            suffix: String::new(),
        })
    };
    let cpu_q = cpu
        .as_ref()
        .map_or_else(|| default("100m"), |(q, _)| q.clone());
    let mem_q = memory
        .as_ref()
        .map_or_else(|| default("128Mi"), |(q, _)| q.clone());
    let mut limit = |l: Option<(Quantity, Span)>, request: &Quantity, what: &str| match l {
        Some((q, span)) => {
            if q.value < request.value {
                diags.push(
                    Diagnostic::error(
                        Code::LimitBelowRequest,
                        format!("{what} limit `{}` is below the request `{}`", q.text, request.text),
                    )
                    .with_label(span, "limit below request")
                    .with_help(format!("Kubernetes rejects a limit below the request; raise the limit to at least `{}`", request.text)),
                );
            }
            q
        }
        None => request.times(2),
    };
    let cpu_limit = limit(cpu_limit, &cpu_q, "CPU");
    let memory_limit = limit(memory_limit, &mem_q, "memory");
    Resources {
        cpu: cpu_q,
        memory: mem_q,
        cpu_limit,
        memory_limit,
    }
}

pub(super) fn lower_volumes(kids: &[Node], diags: &mut Diagnostics) -> Vec<Volume> {
    let mut volumes: Vec<Volume> = Vec::new();
    for n in kids.iter().filter(|c| c.name == "volume") {
        let (Some(name), Some(path_entry)) = (arg_str(n, 0), n.prop("path")) else {
            continue;
        };
        let Some(path) = str_of(path_entry) else {
            continue;
        };
        if let Err(d) = check_mount_path(&path).at(path_entry.value_span) {
            diags.push(d);
            continue;
        }
        if name == "tmp" {
            diags.push(
                Diagnostic::error(Code::ConflictingEntries, "the volume name `tmp` is taken")
                    .with_label(n.ident_span(), "every container has a `tmp` volume at /tmp")
                    .with_help("give the volume another name"),
            );
            continue;
        }
        if path == "/tmp" {
            diags.push(
                Diagnostic::error(
                    Code::ConflictingEntries,
                    "`/tmp` is already a scratch volume",
                )
                .with_label(path_entry.value_span, "mounted by every service")
                .with_help("every container gets a writable /tmp; mount this volume elsewhere"),
            );
            continue;
        }
        if let Some(other) = volumes.iter().find(|v| v.path == path) {
            diags.push(mounted_twice(
                &path,
                path_entry.value_span,
                &other.name,
                other.span,
            ));
            continue;
        }
        let size = n.prop("size").and_then(quantity_of).unwrap_or_else(|| {
            Quantity::parse("1Gi").unwrap_or(Quantity {
                text: "1Gi".into(),
                value: Decimal::from(1u64 << 30),
                suffix: "Gi".into(),
            })
        });
        let persistent = prop_bool(n, "persistent").unwrap_or(false);
        if let (false, Some(keep)) = (persistent, n.prop("keep")) {
            diags.push(
                Diagnostic::error(
                    Code::ConflictingEntries,
                    format!(
                        "volume `{name}` is scratch space: `keep` applies to persistent volumes"
                    ),
                )
                .with_label(keep.span, "nothing to keep")
                .with_secondary(n.ident_span(), "an emptyDir, deleted with its pod")
                .with_help("remove `keep`, or make the volume persistent (`persistent=#true`)"),
            );
        }
        volumes.push(Volume {
            name,
            path,
            size,
            persistent,
            keep: persistent && prop_bool(n, "keep").unwrap_or(true),
            span: n.ident_span(),
        });
    }
    volumes
}

pub(super) const CRON_MACROS: &[&str] = &[
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];

pub(super) fn lower_schedule(n: &Node, diags: &mut Diagnostics) -> Option<Schedule> {
    let e = n.arg(0)?;
    let cron = str_of(e)?.trim().to_owned();
    let problem = if CRON_MACROS.contains(&cron.as_str()) {
        None
    } else {
        check_cron(&cron).err()
    };
    if let Some(problem) = problem {
        diags.push(
            Diagnostic::error(Code::UnknownValue, format!("invalid cron schedule `{cron}`"))
                .with_label(e.value_span, problem)
                .with_help("five fields, minute hour day-of-month month day-of-week, e.g. \"0 3 * * *\" (03:00 every day), \"*/15 * * * *\" (every 15 minutes), \"0 9 * * MON-FRI\"; or @hourly, @daily, @weekly, @monthly, @yearly")
                .with_note("the API server parses a CronJob's schedule with robfig/cron's standard parser (`cron.ParseStandard`) and refuses one it cannot read"),
        );
        return None;
    }
    Some(Schedule {
        cron,
        concurrency: match prop_str(n, "concurrency").as_deref() {
            Some("replace") => "Replace",
            Some("allow") => "Allow",
            _ => "Forbid",
        },
        span: n.head_span(),
    })
}

/// The five fields of a standard cron expression: name, bounds, and the names that may
/// stand for numbers (months from 1, days of the week from 0 = Sunday).
const CRON_FIELDS: [(&str, u32, u32, &[&str]); 5] = [
    ("minute", 0, 59, &[]),
    ("hour", 0, 23, &[]),
    ("day of the month", 1, 31, &[]),
    (
        "month",
        1,
        12,
        &[
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ],
    ),
    (
        "day of the week",
        0,
        6,
        &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
    ),
];

/// Checks a five-field cron expression as robfig/cron v3's standard parser reads it,
/// which is what the API server validates a CronJob's `schedule` with (kubernetes
/// pkg/apis/batch/validation, `cron.ParseStandard`): each field a comma-separated list of
/// `*`, `?`, `N` or `N-M`, each with an optional `/STEP` (a positive step); numbers within
/// the field's bounds (a day of the week is 0 to 6), months and days of the week also by
/// their three-letter English names. Jenkins' `H` and Quartz's `L`, `W` and `#` are not
/// standard cron: the API server refuses them.
fn check_cron(cron: &str) -> Result<(), String> {
    let fields: Vec<&str> = cron.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "{} field{}: a standard cron expression has five",
            fields.len(),
            if fields.len() == 1 { "" } else { "s" }
        ));
    }
    for (field, (what, min, max, names)) in fields.iter().zip(CRON_FIELDS) {
        let value = |v: &str| -> Result<u32, String> {
            let n = match v.parse::<u32>() {
                Ok(n) => n,
                Err(_) => names
                    .iter()
                    .position(|name| name.eq_ignore_ascii_case(v))
                    .and_then(|i| u32::try_from(i).ok())
                    .map(|i| i + min)
                    .ok_or_else(|| format!("`{v}` is not a {what}"))?,
            };
            if n < min || n > max {
                return Err(format!("{what} {n} is outside {min}-{max}"));
            }
            Ok(n)
        };
        for part in field.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((r, s)) => (r, Some(s)),
                None => (part, None),
            };
            if let Some(step) = step {
                match step.parse::<u32>() {
                    Ok(s) if s > 0 => {}
                    _ => return Err(format!("the step `/{step}` must be a positive number")),
                }
            }
            if range == "*" || range == "?" {
                continue;
            }
            match range.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (value(a)?, value(b)?);
                    if a > b {
                        return Err(format!("the {what} range `{range}` ends before it begins"));
                    }
                }
                None => {
                    value(range)?;
                }
            }
        }
    }
    Ok(())
}

/// Two volumes of one container at the same path (the service's own, or a sidecar's).
pub(super) fn mounted_twice(path: &str, at: Span, other: &str, other_at: Span) -> Diagnostic {
    Diagnostic::error(
        Code::DuplicateName,
        format!("two volumes are mounted at `{path}`"),
    )
    .with_label(at, "mounted again here")
    .with_secondary(other_at, format!("`{other}` is mounted there"))
    .with_help("give each volume its own path")
}

#[cfg(test)]
mod cron_tests {
    use super::check_cron;

    /// Accepted and refused as robfig/cron v3 `ParseStandard` does (its parser_test.go
    /// cases, and the Kubernetes CronJob documentation's examples).
    #[test]
    fn standard_cron_expressions() {
        for ok in [
            "0 3 * * *",
            "*/15 * * * *",
            "0 9 * * MON-FRI",
            "0 0 1 jan,jul ?",
            "5-59/10 0-23/2 1-31 1-12 0-6",
            "30 2 */3 * sun",
            "0 */4 * * *",
            "0 0 ? * 0",
        ] {
            assert_eq!(check_cron(ok), Ok(()), "{ok}");
        }
        for bad in [
            "61 * * * *",
            "*/0 * * * *",
            "H 3 * * *",
            "0 24 * * *",
            "0 0 0 * *",
            "0 0 * 13 *",
            "0 0 * * 7",
            "0 0 * * MON-SUNDAY",
            "5-1 * * * *",
            "0 0 L * *",
            "0 0 * * 5#3",
            "* * * *",
            "* * * * * *",
            "-1 * * * *",
            "1- * * * *",
            ", * * * *",
        ] {
            assert!(check_cron(bad).is_err(), "{bad} accepted");
        }
    }
}
