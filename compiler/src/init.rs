//! `nestioc init`: the files of a new project that builds with no diagnostics. Pure: the
//! CLI asks the questions and writes the files.

use crate::lang;

/// What a new project is made of.
#[derive(Debug, Clone)]
pub struct Plan {
    pub project: String,
    pub namespace: String,
    pub registry: String,
    pub mesh: String,
    pub service: String,
    pub language: String,
    pub owner: String,
    pub ci: Option<String>,
}

impl Plan {
    /// The defaults for a directory name: everything derived from it.
    #[must_use]
    pub fn for_dir(dir_name: &str) -> Self {
        let project = sanitize(dir_name).unwrap_or_else(|| "platform".into());
        Plan {
            namespace: project.clone(),
            registry: "ghcr.io/acme".into(),
            mesh: "istio".into(),
            service: "api".into(),
            language: "go".into(),
            owner: "platform-team".into(),
            ci: Some("github-actions".into()),
            project,
        }
    }

    /// Checks every value; `Err` says which one is wrong and why.
    pub fn validate(&self) -> Result<(), String> {
        for (what, v) in [("project", &self.project), ("namespace", &self.namespace)] {
            crate::lower::names::check_dns_label(v, what).map_err(|p| p.message)?;
        }
        // The owner is a label value, as in the language (`owner "Payments_Team"`).
        crate::lower::check_label_value(&self.owner).map_err(|p| p.message)?;
        crate::lower::names::check_service_name(&self.service).map_err(|p| p.message)?;
        let one_of = |what: &str, v: &str, allowed: &[&str]| {
            if allowed.contains(&v) {
                Ok(())
            } else {
                let close = crate::suggest::alias(v)
                    .filter(|a| allowed.contains(a))
                    .map(str::to_owned)
                    .or_else(|| crate::suggest::did_you_mean(v, allowed.iter().copied()));
                Err(match close {
                    Some(c) => format!(
                        "unknown {what} `{v}`: did you mean `{c}`? (one of {})",
                        allowed.join(", ")
                    ),
                    None => format!("unknown {what} `{v}`: one of {}", allowed.join(", ")),
                })
            }
        };
        one_of("mesh", &self.mesh, lang::MESHES)?;
        one_of("language", &self.language, lang::LANGUAGES)?;
        if let Some(ci) = &self.ci {
            one_of("CI system", ci, lang::CI_SYSTEMS)?;
        }
        let registry_ok = !self.registry.is_empty()
            && self
                .registry
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"./-_:".contains(&b));
        if !registry_ok {
            return Err(format!(
                "invalid registry `{}`: a host and path such as ghcr.io/acme",
                self.registry
            ));
        }
        Ok(())
    }

    /// `(relative path, contents)` of each file.
    #[must_use]
    pub fn files(&self) -> Vec<(String, String)> {
        let ci = self
            .ci
            .as_ref()
            .map(|c| format!("    ci \"{c}\"\n"))
            .unwrap_or_default();
        let project = format!(
            "// The {p} platform, created by `nestioc init`. `nestioc build` writes what it\n\
             // needs into generated/; the language is in docs/language.md.\n\
             project \"{p}\" {{\n    registry \"{r}\"\n    namespace \"{ns}\"\n    mesh \"{m}\"\n{ci}\n    environment \"staging\" {{\n        namespace \"{ns}-staging\"\n        replicas-scale 0.5\n    }}\n    environment \"prod\"\n}}\n",
            p = self.project,
            r = self.registry,
            ns = self.namespace,
            m = self.mesh,
        );
        // The entry point the generated Dockerfile runs, in the language's terms, written
        // out so that the author sees it and corrects it (docs/outputs.md).
        let build = match self.language.as_str() {
            "go" => "build main=\".\"".to_owned(),
            "rust" => format!("build main=\"{}\"", self.service),
            "node" => "build main=\"server.js\"".to_owned(),
            "python" => "build main=\"main.py\"".to_owned(),
            "java" => format!("build main=\"build/libs/{}-all.jar\"", self.service),
            _ => format!("build main=\"{}.csproj\"", self.service),
        };
        let service = format!(
            "// One service. Add more files like this one; `depends-on` connects them. The latency\n\
             // threshold is a histogram bucket of every mesh (250ms is not one of Linkerd's).\n\
             service \"{s}\" {{\n    uses \"http-service\" \"api-slos\" threshold=\"500ms\"\n    owner \"{o}\"\n    tier 2\n    image \"{s}\" tag=\"0.1.0\"\n    language \"{l}\"\n    source \"src/{s}\"\n    // The generated Dockerfile's entry point, and the files it copies: make them yours.\n    {build}\n    replicas 2 max=4\n}}\n",
            s = self.service,
            o = self.owner,
            l = self.language,
        );
        vec![
            ("nestio.kdl".into(), project),
            (format!("services/{}.kdl", self.service), service),
        ]
    }
}

/// A directory name made into a DNS label, if anything is left of it.
fn sanitize(name: &str) -> Option<String> {
    let mut s: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while s.contains("--") {
        s = s.replace("--", "-");
    }
    let s: String = s.trim_matches('-').chars().take(40).collect();
    let s = s.trim_matches('-').to_owned();
    (!s.is_empty() && s.starts_with(|c: char| c.is_ascii_lowercase())).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_names_become_project_names() {
        assert_eq!(Plan::for_dir("My Platform_2").project, "my-platform-2");
        assert_eq!(Plan::for_dir("42").project, "platform");
        assert!(Plan::for_dir("shop").validate().is_ok());
        let mut p = Plan::for_dir("shop");
        p.mesh = "consul".into();
        assert!(matches!(p.validate(), Err(e) if e.contains("unknown mesh `consul`")));
        p.mesh = "istio".into();
        p.registry = "ghcr.io/acme\"\n".into();
        assert!(p.validate().is_err());
    }
}
