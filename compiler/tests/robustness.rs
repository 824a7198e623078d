//! Property tests: any mapping text compiles or gives a compile error (never a panic, stack
//! overflow or hang), and any input document gives an output or a runtime error.

use proptest::prelude::*;
use sluice_compiler::{Mapping, Message};

const SEEDS: &[&str] = &[
    "root = {\"id\": this.user.id, \"content\": this.body.content}",
    "root = this\nroot.score = if this.n > 10 { this.n * 2 + 1 } else { this.n - 3 }",
    "root = match this.kind { \"a\" => 1, \"b\" => 2, _ => 0 }",
    "map foo {\n  root.x = this.y\n}\nroot = this.apply(\"foo\")",
    "root = this.items.map_each(i -> i.name | \"none\").filter(x -> x != null)",
    "meta foo = \"bar\"\nlet x = 5\nroot.y = $x + @foo.length()",
    "root = if this.level != \"error\" { deleted() }",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_text_never_panics(src in "\\PC{0,80}") {
        let _ = Mapping::compile(&src);
    }

    #[test]
    fn mutated_mappings_never_panic(seed in 0..SEEDS.len(), pos in 0usize..200, insert in "[\\[\\]{}()\"\\\\.,:=|&!#\\n a-z0-9_-]{0,6}", cut in 0usize..6) {
        let s = SEEDS[seed];
        let mut chars: Vec<char> = s.chars().collect();
        let p = pos % (chars.len() + 1);
        let end = (p + cut).min(chars.len());
        chars.splice(p..end, insert.chars());
        let src: String = chars.into_iter().collect();
        if let Ok(m) = Mapping::compile(&src) {
            let _ = m.run(&Message::new(&b"{\"user\":{\"id\":1},\"n\":12,\"kind\":\"a\",\"items\":[{\"name\":\"x\"}]}"[..]));
        }
    }

    #[test]
    fn any_document_gives_output_or_error(doc in "\\PC{0,64}", seed in 0..SEEDS.len()) {
        let m = Mapping::compile(SEEDS[seed]).unwrap();
        let _ = m.run(&Message::new(doc.into_bytes()));
    }
}

#[test]
fn deep_nesting_is_a_compile_error_not_a_stack_overflow() {
    for open in ["(", "[", "{\"a\":", "!"] {
        let src = format!("root = {}1", open.repeat(100_000));
        assert!(Mapping::compile(&src).is_err(), "{}", open);
    }
}
