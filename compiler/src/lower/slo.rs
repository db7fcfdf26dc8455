//! A service's `slo` nodes: availability and latency objectives, custom SLIs.

use rust_decimal::Decimal;

use super::checks::check_free_text;
use super::read::{arg_str, child, percent_of, prop_duration, str_of};
use crate::diag::{At, Code, Diagnostic, Diagnostics};
use crate::model::values::Duration;
use crate::model::{CustomSli, Slo, SloKind, Spanned};
use crate::syntax::Node;

pub(super) fn lower_slo(n: &Node, diags: &mut Diagnostics) -> Option<Slo> {
    let kind = match arg_str(n, 0).as_deref() {
        Some("availability") => SloKind::Availability,
        Some("latency") => SloKind::Latency,
        _ => return None,
    };
    let target_entry = n.prop("target")?;
    let target = percent_of(target_entry)?;
    if target.0 <= Decimal::ZERO || target.0 >= Decimal::ONE_HUNDRED {
        diags.push(
            Diagnostic::error(
                Code::OutOfRange,
                format!("SLO target {target} leaves no room"),
            )
            .with_label(target_entry.value_span, "must be above 0 and below 100")
            .with_help(if target.0 >= Decimal::ONE_HUNDRED {
                "a 100% objective has no error budget, so every error pages: use e.g. 99.9"
            } else {
                "use an objective such as 99 or 99.9"
            }),
        );
        return None;
    }
    let window =
        prop_duration(n, "window").map_or(Duration::from_millis(30 * 86_400_000), |d| d.value);
    // The burn-rate alerts look back up to 3 days; a period shorter than a day leaves
    // them nothing to compare with.
    if window.millis < 86_400_000 {
        if let Some(e) = n.prop("window") {
            diags.push(
                Diagnostic::error(
                    Code::OutOfRange,
                    format!("SLO window `{window}` is too short"),
                )
                .with_label(e.value_span, "at least one day")
                .with_help("SLO windows are days or weeks: \"7d\", \"28d\", \"30d\""),
            );
        }
        return None;
    }
    // A zero threshold is reported by the structure check (NST0105); it is no threshold.
    let threshold = prop_duration(n, "threshold").filter(|t| t.value.millis > 0);
    match (kind, &threshold) {
        // A threshold that is there but invalid was reported where it is written.
        (SloKind::Latency, None) if n.prop("threshold").is_some() => return None,
        (SloKind::Latency, None) if child(&n.children, "errors").is_none() => {
            diags.push(
                Diagnostic::error(Code::MissingValue, "latency SLO needs a `threshold`")
                    .with_label(n.head_span(), "missing `threshold=`")
                    .with_help("requests slower than the threshold are bad: `slo \"latency\" target=99 threshold=\"300ms\"`"),
            );
            return None;
        }
        (SloKind::Availability, Some(t)) => {
            diags.push(
                Diagnostic::error(
                    Code::UnknownProperty,
                    "`threshold` applies to latency SLOs only",
                )
                .with_label(t.span, "not used by an availability SLO")
                .with_help("remove it, or declare `slo \"latency\" ... threshold=`"),
            );
        }
        _ => {}
    }
    let query = |what: &str, diags: &mut Diagnostics| {
        let e = child(&n.children, what)?.arg(0)?;
        let q = str_of(e)?;
        match check_free_text(&q, "custom SLI query").at(e.value_span) {
            Ok(()) => Some(q),
            Err(d) => {
                diags.push(d);
                None
            }
        }
    };
    let errors = query("errors", diags);
    let total = query("total", diags);
    let custom = match (errors, total) {
        (Some(errors), Some(total)) => {
            // Without the placeholder every window would read the same range, and the
            // multi-window alerts would compare a window with itself.
            for (what, q) in [("errors", &errors), ("total", &total)] {
                if !q.contains("{{window}}") {
                    let span = child(&n.children, what)
                        .and_then(|c| c.arg(0))
                        .map_or(n.head_span(), |e| e.value_span);
                    diags.push(
                        Diagnostic::error(Code::MissingValue, format!("custom SLI query `{what}` has no `{{{{window}}}}`"))
                            .with_label(span, "no `{{window}}` in this query")
                            .with_help("write the range as `[{{window}}]`: nestioc evaluates the query over 5m, 30m, 1h, 2h, 6h, 1d and 3d"),
                    );
                }
            }
            Some(CustomSli { errors, total })
        }
        (None, None) => None,
        _ => {
            diags.push(
                Diagnostic::error(Code::MissingValue, "a custom SLI needs both `errors` and `total`")
                    .with_label(n.head_span(), "incomplete custom SLI")
                    .with_help("give both queries: `errors \"sum(rate(..{code=~\\\"5..\\\"}[{{window}}]))\"` and `total \"sum(rate(..[{{window}}]))\"`"),
            );
            None
        }
    };
    Some(Slo {
        kind,
        target: Spanned::new(target, target_entry.value_span),
        window,
        threshold,
        custom,
        span: n.ident_span(),
    })
}
