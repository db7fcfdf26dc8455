//! "Did you mean": the closest known name to a misspelt one.

/// The candidate closest to `name`, when it is close enough to be a likely typo.
#[must_use]
pub fn did_you_mean<'a, I>(name: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = name.to_lowercase();
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| {
            let distance = strsim::damerau_levenshtein(&lower, &c.to_lowercase());
            (distance, c)
        })
        .filter(|(d, c)| {
            let longest = name.chars().count().max(c.chars().count());
            *d <= (longest / 3).max(1) || (*d <= 3 && strsim::jaro_winkler(&lower, c) > 0.9)
        })
        .min_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)))
        .map(|(_, c)| c.to_owned())
}

/// The value another tool's name stands for (`golang` is `go`): names too far from the
/// value for an edit distance to find.
#[must_use]
pub fn alias(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "golang" => "go",
        "nodejs" | "node.js" | "javascript" | "js" | "typescript" | "ts" => "node",
        "py" | "python3" => "python",
        "csharp" | "c#" | ".net" | "net" => "dotnet",
        "rs" => "rust",
        "github" | "gha" | "actions" | "github-action" => "github-actions",
        "gitlab-ci" => "gitlab",
        "argo" | "argo-cd" => "argocd",
        _ => return None,
    })
}

/// `help` text for an unknown name: the suggestion if there is one, else the list.
#[must_use]
pub fn help_for<'a, I>(name: &str, candidates: I, what: &str) -> String
where
    I: IntoIterator<Item = &'a str> + Clone,
{
    if let Some(s) = did_you_mean(name, candidates.clone()) {
        return format!("did you mean `{s}`?");
    }
    let all: Vec<&str> = candidates.into_iter().collect();
    match all.len() {
        0 => format!("no {what} is declared"),
        1..=12 => format!(
            "known {}: {}",
            plural(what),
            all.iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        n => format!("there are {n} {}; none is close to `{name}`", plural(what)),
    }
}

fn plural(word: &str) -> String {
    match word.strip_suffix('y') {
        Some(stem) if !stem.ends_with(['a', 'e', 'o', 'u']) => format!("{stem}ies"),
        _ => format!("{word}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["payments", "inventory", "email"];
        assert_eq!(did_you_mean("paymnets", names), Some("payments".into()));
        assert_eq!(did_you_mean("payment", names), Some("payments".into()));
        assert_eq!(did_you_mean("zzz", names), None);
        assert_eq!(
            did_you_mean("depend-on", ["depends-on", "env"]),
            Some("depends-on".into())
        );
    }
}
