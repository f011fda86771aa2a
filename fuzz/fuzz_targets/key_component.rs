//! Fuzzes the key-component text parser (`sigil_custody::KeyComponent::parse`): it must
//! never panic, and whatever it accepts must print back to a text that parses to the same
//! component.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigil_custody::KeyComponent;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(component) = KeyComponent::parse(text) {
        let canonical = component.to_text();
        let again = KeyComponent::parse(&canonical).expect("canonical text parses");
        assert_eq!(*again.to_text(), *canonical);
        assert_eq!(again.kcv(), component.kcv());
    }
});
