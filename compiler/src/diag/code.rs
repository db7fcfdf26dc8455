//! Stable diagnostic codes. A code, once published, keeps its meaning forever; its
//! explanation lives in `docs/diagnostics/<CODE>.md` and is embedded in the binary.

use std::fmt;

macro_rules! codes {
    (@severity) => { super::Severity::Error };
    (@severity warning) => { super::Severity::Warning };
    ($($variant:ident = $code:literal, $slug:literal $(, $severity:ident)?;)*) => {
        /// A stable diagnostic code (`NST0201`), with a kebab-case name (`unknown-service`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code {
            $($variant,)*
        }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code as printed: `NST0201`.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $code,)*
                }
            }

            /// The kebab-case name: `unknown-service`.
            #[must_use]
            pub fn slug(self) -> &'static str {
                match self {
                    $(Code::$variant => $slug,)*
                }
            }

            /// The code's severity, the one place that decides it: an error stops the
            /// build; a warning does not, unless `--deny-warnings`. The documentation's
            /// index is generated from this, and the test suite holds every reported
            /// diagnostic to it.
            #[must_use]
            pub fn severity(self) -> super::Severity {
                match self {
                    $(Code::$variant => codes!(@severity $($severity)?),)*
                }
            }

            /// The Markdown explanation shown by `nestioc explain`.
            #[must_use]
            pub fn explanation(self) -> &'static str {
                match self {
                    $(Code::$variant => include_str!(concat!("../../../docs/diagnostics/", $code, ".md")),)*
                }
            }
        }
    };
}

codes! {
    KdlSyntax = "NST0001", "kdl-syntax";
    UnreadableSource = "NST0002", "unreadable-source";
    MissingProject = "NST0003", "missing-project";
    LimitExceeded = "NST0004", "limit-exceeded";
    UnsafeFileName = "NST0005", "unsafe-file-name";
    UnknownNode = "NST0101", "unknown-node";
    UnknownProperty = "NST0102", "unknown-property";
    UnknownValue = "NST0103", "unknown-value";
    WrongType = "NST0104", "wrong-type";
    OutOfRange = "NST0105", "out-of-range";
    MissingValue = "NST0106", "missing-value";
    InvalidDuration = "NST0107", "invalid-duration";
    InvalidQuantity = "NST0108", "invalid-quantity";
    InvalidPercentage = "NST0109", "invalid-percentage";
    InvalidName = "NST0110", "invalid-name";
    DuplicateName = "NST0111", "duplicate-name";
    UnexpectedArgument = "NST0112", "unexpected-argument";
    DuplicateNode = "NST0113", "duplicate-node";
    LimitBelowRequest = "NST0114", "limit-below-request";
    ConflictingEntries = "NST0115", "conflicting-entries";
    InvalidCommand = "NST0116", "invalid-command";
    UnsafeValue = "NST0117", "unsafe-value";
    IncompleteBuild = "NST0118", "incomplete-build";
    ImageReferenceConflict = "NST0120", "image-reference-conflict";
    UnpinnedImage = "NST0121", "unpinned-image", warning;
    PlainTextSecret = "NST0122", "plain-text-secret", warning;
    LowUserId = "NST0125", "low-user-id", warning;
    ImageUser = "NST0126", "image-user", warning;
    WritableRootFilesystem = "NST0127", "writable-root-filesystem", warning;
    AddedCapability = "NST0128", "added-capability", warning;
    RootUser = "NST0129", "root-user";
    ForbiddenPrivilege = "NST0130", "forbidden-privilege";
    NoProbe = "NST0131", "no-probe", warning;
    ReservedMetadataKey = "NST0132", "reserved-metadata-key";
    ReservedContainerName = "NST0133", "reserved-container-name";
    ProbeTiming = "NST0134", "probe-timing";
    ConflictingNodePort = "NST0140", "conflicting-node-port";
    DerivedNameInvalid = "NST0141", "derived-name-invalid";
    UnsetRepository = "NST0142", "unset-repository", warning;
    UnknownService = "NST0201", "unknown-service";
    UnknownTemplate = "NST0202", "unknown-template";
    UnknownPort = "NST0203", "unknown-port";
    UnknownEnvironment = "NST0204", "unknown-environment";
    TemplateCycle = "NST0205", "template-cycle";
    DependencyWithoutPort = "NST0206", "dependency-without-port";
    SelfDependency = "NST0207", "self-dependency";
    UnknownParameter = "NST0208", "unknown-parameter";
    MissingParameter = "NST0209", "missing-parameter";
    DependencyCycle = "NST0301", "dependency-cycle";
    SloInfeasible = "NST0302", "slo-infeasible", warning;
    LatencyBudget = "NST0303", "latency-budget", warning;
    RetryAmplification = "NST0304", "retry-amplification", warning;
    TierViolation = "NST0305", "tier-violation";
    CanarySteps = "NST0306", "canary-steps";
    MeshRequired = "NST0307", "mesh-required";
    ExposeWithoutHttp = "NST0308", "expose-without-http";
    NestedTimeout = "NST0309", "nested-timeout", warning;
    RoutePolicyConflict = "NST0310", "route-policy-conflict", warning;
    TcpRoutePolicy = "NST0311", "tcp-route-policy";
    LatencyBucket = "NST0312", "latency-bucket", warning;
    ConflictingHost = "NST0313", "conflicting-host";
    DerivedHostInvalid = "NST0314", "derived-host-invalid";
    ApplicationNameClash = "NST0315", "application-name-clash";
    SharedNamespace = "NST0316", "shared-namespace";
    UnverifiedDockerfile = "NST0317", "unverified-dockerfile", warning;
    ImageDataWithoutVolume = "NST0318", "image-data-without-volume", warning;
    NoMetricsEndpoint = "NST0319", "no-metrics-endpoint", warning;
    SloWithoutRequests = "NST0320", "slo-without-requests", warning;
    HandEditedOutput = "NST0401", "hand-edited-output";
    TemplateRender = "NST0402", "template-render";
    UnknownTemplateFile = "NST0403", "unknown-template-file";
    UnsafeOutput = "NST0404", "unsafe-output";
}

impl Code {
    /// Looks a code up by `NST0201`, `nst0201`, `0201` or its name `unknown-service`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Code> {
        let s = s.trim();
        Code::ALL.iter().copied().find(|c| {
            c.as_str().eq_ignore_ascii_case(s)
                || c.as_str()[3..] == *s
                || c.slug().eq_ignore_ascii_case(s)
        })
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The summary of an explanation: its first paragraph (after the title), on one line.
#[must_use]
pub fn summary(explanation: &str) -> String {
    explanation
        .lines()
        .skip_while(|l| l.trim().is_empty() || l.starts_with('#'))
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}
