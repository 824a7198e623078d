//! Processor component specs.

use super::{ComponentKind::Processor, ComponentSpec, FieldSpec as F};

/// A processor whose whole config is one Bloblang mapping string.
fn mapping_processor(name: &'static str, summary: &'static str) -> ComponentSpec {
    ComponentSpec::with_value(
        name,
        Processor,
        summary,
        F::string("", "A Bloblang mapping.").bloblang(),
    )
}

/// `bloblang`: the older name of `mapping`.
pub fn bloblang() -> ComponentSpec {
    mapping_processor(
        "bloblang",
        "Executes a Bloblang mapping on messages (the older name of `mapping`).",
    )
}

/// `mapping`: replaces each message with the result of a Bloblang mapping.
pub fn mapping() -> ComponentSpec {
    mapping_processor("mapping", "Executes a Bloblang mapping on messages, creating a new document that replaces (or filters) the original message.")
}

/// `mutation`: modifies each message in place with a Bloblang mapping.
pub fn mutation() -> ComponentSpec {
    mapping_processor("mutation", "Executes a Bloblang mapping and directly transforms the contents of messages, mutating (or deleting) them.")
}

/// `catch`: runs processors only on messages flagged with an error, then clears the flag.
pub fn catch() -> ComponentSpec {
    ComponentSpec::with_value(
        "catch",
        Processor,
        "Applies a list of child processors only when a previous processing step has failed.",
        F::processors("", "The processors to apply to failed messages."),
    )
}

/// `try`: runs processors in order, skipping the rest for a message once one fails.
pub fn r#try() -> ComponentSpec {
    ComponentSpec::with_value(
        "try",
        Processor,
        "Executes a list of child processors on messages only if no prior processors have failed (or the errors have been cleared).",
        F::processors("", "The processors to apply."),
    )
}

/// `log`: logs a message (and structured fields) for each message passing through.
pub fn log() -> ComponentSpec {
    ComponentSpec::new(
        "log",
        Processor,
        "Prints a log event for each message. Messages always remain unchanged.",
        vec![
            F::string("level", "The log level to use.")
                .default("INFO")
                .options(&["ERROR", "WARN", "INFO", "DEBUG", "TRACE", "FATAL", "ALL"]),
            F::string("fields_mapping", "An optional Bloblang mapping that can be used to specify extra fields to add to the log.")
                .bloblang()
                .optional(),
            F::string("message", "The message to print.").default("").interpolated(),
            F::string("fields", "A map of fields to print along with the log message.")
                .map()
                .interpolated()
                .optional()
                .advanced(),
        ],
    )
}

/// `switch`: routes each message to the processors of the first case whose check passes.
pub fn switch() -> ComponentSpec {
    ComponentSpec::with_value(
        "switch",
        Processor,
        "Conditionally processes messages based on their contents.",
        F::object(
            "",
            "A list of switch cases, outlining outputs that can be routed to.",
            vec![
                F::string("check", "A Bloblang query that should return a boolean value indicating whether a message should have the processors of this case executed on it. If left empty the case always passes.")
                    .default("")
                    .bloblang(),
                F::processors("processors", "A list of processors to execute on a message."),
                F::bool("fallthrough", "Indicates whether, if this case passes for a message, the next case should also be executed.")
                    .default(false)
                    .advanced(),
            ],
        )
        .array(),
    )
}
