//! A pagination cursor from an API client. Decoding a stranger's text never panics and never
//! accepts a forgery; a cursor we encoded always decodes to itself, in its own scope only.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use shared::domain::{Cursor, CursorKey};

static KEY: LazyLock<CursorKey> = LazyLock::new(|| CursorKey::new("fuzzing key"));

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // A forgery would need the key's HMAC: whatever the fuzzer builds must be refused...
    assert!(Cursor::decode(&text, "scope", &KEY).is_err(), "a cursor not signed by us was accepted");
    // ...while one we signed round-trips, in its scope only.
    let middle = (0..=text.len() / 2).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
    let (scope, after) = text.split_at(middle);
    let cursor = Cursor { scope: scope.to_owned(), after: after.to_owned() };
    let encoded = cursor.encode(&KEY);
    assert_eq!(Cursor::decode(&encoded, scope, &KEY).ok(), Some(cursor));
    assert!(Cursor::decode(&encoded, &format!("{scope}x"), &KEY).is_err());
});
