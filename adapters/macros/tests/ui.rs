//! Compile-time checks of `#[policy]`: forms that must compile (and run,
//! with no warning from the generated code) and mistakes that must fail
//! with a message saying what is expected. One test function: trybuild
//! builds every case in one project.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
