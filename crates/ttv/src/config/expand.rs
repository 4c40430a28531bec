//! `${VAR}` and `${VAR:-default}` expansion of configuration values.
//!
//! Expansion runs on the parsed YAML, value by value, never on the file's text: a variable
//! holding `#`, `:` or a newline cannot change the file's structure. A value that is exactly
//! one reference takes the type its expansion reads as (`total_gpus: ${GPUS:-2}` is the number
//! 2); a reference inside longer text stays text. `$$` is a literal `$`; a `$` not followed by
//! `{` or `$` is kept as it is.

use serde_json::Value;

use super::{Env, Finding};

/// The result of expanding one string.
#[derive(Debug, PartialEq)]
enum Expanded {
    /// No reference in it.
    Unchanged,
    /// The whole value was one reference; this is its expansion.
    Whole(String),
    /// References inside text.
    Text(String),
}

/// Expands every string in `value`, recording a problem (and dropping the value) for each
/// reference that cannot be expanded.
pub(super) fn expand_tree(value: &mut Value, path: &str, env: &dyn Env, out: &mut Vec<Finding>) {
    match value {
        Value::Object(map) => {
            let mut drop = Vec::new();
            for (key, child) in map.iter_mut() {
                let child_path = join(path, key);
                if let Value::String(s) = child {
                    match expand_str(s, env) {
                        Ok(expanded) => *child = retype(s, expanded),
                        Err(message) => {
                            out.push(Finding::error(child_path, message));
                            drop.push(key.clone());
                        }
                    }
                } else {
                    expand_tree(child, &child_path, env, out);
                }
            }
            for key in drop {
                map.remove(&key);
            }
        }
        Value::Array(items) => {
            let mut keep = Vec::with_capacity(items.len());
            for (i, mut item) in std::mem::take(items).into_iter().enumerate() {
                let item_path = format!("{path}[{i}]");
                if let Value::String(s) = &item {
                    match expand_str(s, env) {
                        Ok(expanded) => keep.push(retype(s, expanded)),
                        Err(message) => out.push(Finding::error(item_path, message)),
                    }
                } else {
                    expand_tree(&mut item, &item_path, env, out);
                    keep.push(item);
                }
            }
            *items = keep;
        }
        _ => {}
    }
}

/// `a.b` from `a` and `b`.
pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// The value after expansion. A whole-value reference is read as a YAML scalar, so numbers
/// and booleans get their type back; one that expands to nothing leaves the key unset.
fn retype(original: &str, expanded: Expanded) -> Value {
    match expanded {
        Expanded::Unchanged => Value::String(original.to_owned()),
        Expanded::Text(text) => Value::String(text),
        Expanded::Whole(text) if text.trim().is_empty() => Value::Null,
        Expanded::Whole(text) => match serde_saphyr::from_str::<Value>(&text) {
            Ok(v @ (Value::Number(_) | Value::Bool(_))) => v,
            _ => Value::String(text),
        },
    }
}

/// Expands the references in `s`; the error says which variable and how to fix it.
fn expand_str(s: &str, env: &dyn Env) -> Result<Expanded, String> {
    if !s.contains('$') {
        return Ok(Expanded::Unchanged);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut references = 0;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body.find('}').ok_or_else(|| {
                format!("{s:?} has \"${{\" without a closing \"}}\"; write $$ for a literal $")
            })?;
            out.push_str(&reference(&body[..end], env)?);
            references += 1;
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    let whole = references == 1 && {
        let t = s.trim();
        t.starts_with("${") && t.ends_with('}') && t[2..].find('}') == Some(t.len() - 3)
    };
    Ok(if whole {
        Expanded::Whole(out)
    } else {
        Expanded::Text(out)
    })
}

/// The text of one `${...}` body: `NAME` or `NAME:-default`.
fn reference(body: &str, env: &dyn Env) -> Result<String, String> {
    let (name, default) = match body.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (body, None),
    };
    let valid = name
        .chars()
        .enumerate()
        .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
    if name.is_empty() || !valid {
        return Err(format!(
            "\"${{{body}}}\" is not a variable reference; expected ${{NAME}} or ${{NAME:-default}} \
             with NAME made of letters, digits and _"
        ));
    }
    match (env.var(name).filter(|v| !v.is_empty()), default) {
        (Some(value), _) => Ok(value),
        (None, Some(default)) => Ok(default.to_owned()),
        (None, None) => Err(format!(
            "environment variable {name} is not set; set it, or write ${{{name}:-default}} to \
             give a default"
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::json;

    use super::*;

    fn env() -> HashMap<String, String> {
        HashMap::from([
            ("KEY".to_owned(), "sk-123".to_owned()),
            ("GPUS".to_owned(), "4".to_owned()),
            ("ON".to_owned(), "true".to_owned()),
            ("EMPTY".to_owned(), String::new()),
            ("TRICKY".to_owned(), "a: b # not a comment".to_owned()),
        ])
    }

    #[test]
    fn references_expand_and_whole_values_get_their_type_back() {
        let mut v = json!({
            "a": "${KEY}",
            "n": "${GPUS}",
            "b": "${ON}",
            "d": "${MISSING:-720p}",
            "num_default": "${MISSING:-2}",
            "text": "key=${KEY}, gpus=${GPUS}",
            "dollars": "$$5 and $HOME stay",
            "tricky": "${TRICKY}",
            "empty": "${EMPTY:-}",
            "list": ["${GPUS}", "x"],
        });
        let mut out = Vec::new();
        expand_tree(&mut v, "", &env(), &mut out);
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(
            v,
            json!({
                "a": "sk-123",
                "n": 4,
                "b": true,
                "d": "720p",
                "num_default": 2,
                "text": "key=sk-123, gpus=4",
                "dollars": "$5 and $HOME stay",
                "tricky": "a: b # not a comment",
                "empty": null,
                "list": [4, "x"],
            })
        );
    }

    #[test]
    fn an_unset_variable_names_the_key_and_the_variable_and_drops_the_value() {
        let mut v = json!({"runway_ml": {"api_key": "${RUNWAY_KEY}", "model": "gen4_turbo"}});
        let mut out = Vec::new();
        expand_tree(&mut v, "", &env(), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].path, "runway_ml.api_key");
        assert!(
            out[0].message.contains("RUNWAY_KEY is not set"),
            "{}",
            out[0].message
        );
        assert_eq!(v, json!({"runway_ml": {"model": "gen4_turbo"}}));
    }

    #[test]
    fn an_empty_variable_counts_as_unset() {
        let mut v = json!({"k": "${EMPTY}"});
        let mut out = Vec::new();
        expand_tree(&mut v, "", &env(), &mut out);
        assert_eq!(out.len(), 1, "{out:?}");
    }

    #[test]
    fn malformed_references_are_errors() {
        for bad in ["${KEY", "${}", "${1X}", "${A B}"] {
            let mut v = json!({ "k": bad });
            let mut out = Vec::new();
            expand_tree(&mut v, "", &env(), &mut out);
            assert_eq!(out.len(), 1, "{bad}: {out:?}");
            assert_eq!(out[0].path, "k");
        }
    }

    #[test]
    fn two_references_are_text_even_when_they_look_like_a_number() {
        let mut v = json!({"k": "${GPUS}${GPUS}"});
        let mut out = Vec::new();
        expand_tree(&mut v, "", &env(), &mut out);
        assert_eq!(v, json!({"k": "44"}));
    }

    /// `text` written so that expansion gives it back: every `$` doubled.
    fn escaped(text: &str) -> String {
        text.replace('$', "$$")
    }

    proptest::proptest! {
        #[test]
        fn text_with_every_dollar_doubled_expands_to_itself(text in ".*") {
            let want = if text.contains('$') {
                Expanded::Text(text.clone())
            } else {
                Expanded::Unchanged
            };
            proptest::prop_assert_eq!(expand_str(&escaped(&text), &env()).unwrap(), want);
        }

        #[test]
        fn a_reference_inside_text_is_replaced_by_the_value_and_nothing_else(
            before in ".*",
            after in ".*",
            name in "[A-Z_][A-Z0-9_]{0,12}",
            value in ".+",
        ) {
            let env = HashMap::from([(name.clone(), value.clone())]);
            let line = format!("{}${{{name}}}{}", escaped(&before), escaped(&after));
            let want = format!("{before}{value}{after}");
            let got = expand_str(&line, &env).unwrap();
            if before.trim().is_empty() && after.trim().is_empty() && !before.contains('$') {
                // Nothing but the reference (and spaces): the value stands for the whole.
                proptest::prop_assert_eq!(got, Expanded::Whole(want));
            } else {
                proptest::prop_assert_eq!(got, Expanded::Text(want));
            }
        }

        #[test]
        fn an_unset_variable_takes_its_default_and_without_one_is_an_error_naming_it(
            name in "[A-Z_][A-Z0-9_]{0,12}",
            default in "[^}]*",
        ) {
            let none: HashMap<String, String> = HashMap::new();
            let got = expand_str(&format!("${{{name}:-{default}}}"), &none).unwrap();
            proptest::prop_assert_eq!(got, Expanded::Whole(default));
            let err = expand_str(&format!("${{{name}}}"), &none).unwrap_err();
            let named = format!("environment variable {name} is not set");
            proptest::prop_assert!(err.contains(&named), "{}", err);
        }
    }
}
