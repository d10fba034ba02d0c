//! Compiling the Open Charge Alliance's JSON schemas (`shared/schemas/v16`) and reading their
//! verdicts, for the commands ocpp-bulk sends (`catalogue`) and the CALLs chargers send
//! (`charger_calls`).

use jsonschema::error::ValidationErrorKind;
use jsonschema::{ValidationError, Validator};
use serde_json::Value;

use crate::error::{ErrorCollector, MAX_REPORTED_ERRORS};

/// A schema file's validator, with every integer bounded to 32 bits. `None` when the text does
/// not compile (a test checks every file does).
pub fn compile(text: &str) -> Option<Validator> {
    let mut schema: Value = serde_json::from_str(text).ok()?;
    bound_integers(&mut schema);
    jsonschema::validator_for(&schema).ok()
}

/// An OCPP `integer` is a 32-bit value on real chargers (the specification's own word); the JSON
/// schemas do not say so, and JSON itself has no bound. Every `"type": "integer"` is bounded to
/// the 32-bit range (a schema's own tighter bounds stay), so `1e19` or `10^29` is a 422 naming the
/// field, not a number rounded on its way to a charger.
fn bound_integers(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some("integer") {
                map.entry("minimum").or_insert(Value::from(i32::MIN));
                map.entry("maximum").or_insert(Value::from(i32::MAX));
            }
            map.values_mut().for_each(bound_integers);
        }
        Value::Array(items) => items.iter_mut().for_each(bound_integers),
        _ => {}
    }
}

/// `prefix.path.to.field` for an error's place in the payload.
pub fn field_path(error: &ValidationError<'_>, prefix: &str) -> String {
    let mut path = prefix.to_owned();
    for segment in error.instance_path().as_str().split('/').skip(1) {
        path.push('.');
        path.push_str(&segment.replace("~1", "/").replace("~0", "~"));
    }
    path
}

/// The field errors of `payload`, at most `MAX_REPORTED_ERRORS` of them; the rest are only
/// counted (not even formatted), so a huge invalid payload costs no more memory than its body.
pub fn collect(validator: &Validator, payload: &Value, prefix: &str) -> Result<(), ErrorCollector> {
    let mut errors = ErrorCollector::default();
    let mut all = validator.iter_errors(payload);
    for error in all.by_ref().take(MAX_REPORTED_ERRORS) {
        let path = field_path(&error, prefix);
        match error.kind() {
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().map_or_else(|| property.to_string(), str::to_owned);
                let field = format!("{path}.{name}");
                errors.add(&field, format!("The {field} field is required."));
            }
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                for name in unexpected {
                    let field = format!("{path}.{name}");
                    errors.add(&field, format!("The {field} field is not allowed."));
                }
            }
            _ => {
                errors.add(&path, format!("The {path} field is invalid: {error}."));
            }
        }
    }
    errors.count_more(all.count());
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}
