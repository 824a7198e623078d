//! The pest grammars of sluice.
//!
//! [`BloblangParser`] parses Bloblang mappings (entry rule [`Rule::mapping`]) and config strings
//! with `${! ... }` interpolations (entry rule [`Rule::interpolation`]). The grammar lives in
//! `grammar/bloblang.pest`; the compiler (`sluice-compiler`) turns its parse trees into a syntax
//! tree with spans and renders parse errors in words.

#![warn(missing_docs)]

// The generated `Rule` enum has one variant per grammar rule; the grammar file documents them.
#[allow(missing_docs)]
mod generated {
    use pest_derive::Parser;

    /// The Bloblang parser generated from `grammar/bloblang.pest`.
    #[derive(Parser)]
    #[grammar = "../bloblang.pest"]
    pub struct BloblangParser;
}

pub use generated::{BloblangParser, Rule};

#[cfg(test)]
mod tests {
    use super::*;
    use pest::Parser;

    #[test]
    fn parses_statements_and_expressions() {
        let src = "root = {\n  \"id\": this.user.id,\n  \"content\": this.body.content\n}\nroot.n = if this.n > 10 { this.n * 2 + 1 } else { this.n - 3 }\nmeta foo = \"bar\"";
        BloblangParser::parse(Rule::mapping, src).unwrap();
    }

    #[test]
    fn rejects_two_statements_on_one_line() {
        assert!(BloblangParser::parse(Rule::mapping, "root.a = 1 root.b = 2").is_err());
    }

    #[test]
    fn parses_interpolations() {
        BloblangParser::parse(Rule::interpolation, "foo-${! meta(\"x\") }-${{!bar}}").unwrap();
    }
}
