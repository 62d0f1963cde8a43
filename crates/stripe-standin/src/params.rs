//! A request's form parameters as Stripe reads them: `line_items[0][price]=p` is the parameter
//! `line_items`, an array whose item 0 has `price`; `expand[]=a&expand[]=b` appends. Every
//! node keeps the full name it was sent under (`line_items[0][price]`), for error answers.

/// One parameter: a value, or named children (object keys, array indices, map keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Param {
    Value(String),
    Node(Vec<(String, Param)>),
}

/// `name[seg][seg]` split into `name`, `seg`, `seg`. A segment ends at a `]` followed by `[`
/// or by the end, so a metadata key that itself holds brackets (`metadata[a[b]]`) stays one
/// segment (`a[b]`) and is refused as such.
fn segments(key: &str) -> Vec<String> {
    let Some(open) = key.find('[') else {
        return vec![key.to_owned()];
    };
    let (name, mut rest) = key.split_at(open);
    let mut out = vec![name.to_owned()];
    while let Some(inner) = rest.strip_prefix('[') {
        let end = (0..inner.len())
            .filter(|&i| inner.as_bytes()[i] == b']')
            .find(|&i| matches!(inner.as_bytes().get(i + 1), None | Some(b'[')));
        let Some(end) = end else {
            // Unbalanced: the rest is part of the name, which no schema knows.
            out.last_mut().expect("a name").push_str(rest);
            return out;
        };
        out.push(inner[..end].to_owned());
        rest = &inner[end + 1..];
    }
    if !rest.is_empty() {
        out.last_mut().expect("a name").push_str(rest);
    }
    out
}

/// The display name of the parameter at `path`: `line_items[0][price]`.
pub(crate) fn display(path: &[String]) -> String {
    let mut name = path.first().cloned().unwrap_or_default();
    for seg in &path[1.min(path.len())..] {
        name.push('[');
        name.push_str(seg);
        name.push(']');
    }
    name
}

/// Why a set of pairs is no parameter tree: a name used both as a value and with children.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Conflict(pub String);

/// The pairs (in the order sent) as one tree of parameters.
pub(crate) fn tree(pairs: &[(String, String)]) -> Result<Vec<(String, Param)>, Conflict> {
    let mut root = Vec::new();
    for (key, value) in pairs {
        insert(&mut root, &mut segments(key), 0, value)?;
    }
    Ok(root)
}

/// Puts `value` at `path[depth..]` under `children`. A segment `[]` is the next index.
fn insert(
    children: &mut Vec<(String, Param)>,
    path: &mut [String],
    depth: usize,
    value: &str,
) -> Result<(), Conflict> {
    let last = depth + 1 == path.len();
    if depth > 0 && path[depth].is_empty() {
        path[depth] = children.len().to_string();
    }
    let seg = path[depth].clone();
    let at = match children.iter().position(|(k, _)| *k == seg) {
        Some(at) => at,
        None if last => {
            children.push((seg, Param::Value(value.to_owned())));
            return Ok(());
        }
        None => {
            children.push((seg, Param::Node(Vec::new())));
            children.len() - 1
        }
    };
    match (&mut children[at].1, last) {
        (Param::Node(next), false) => insert(next, path, depth + 1, value),
        // Sent twice: the last value counts.
        (Param::Value(old), true) => {
            *old = value.to_owned();
            Ok(())
        }
        _ => Err(Conflict(display(&path[..=depth]))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn bracket_names_nest_and_a_bracketed_metadata_key_stays_one_key() {
        assert_eq!(
            segments("line_items[0][price]"),
            ["line_items", "0", "price"]
        );
        assert_eq!(segments("metadata[a[b]]"), ["metadata", "a[b]"]);
        assert_eq!(segments("expand[]"), ["expand", ""]);
        assert_eq!(segments("odd[x"), ["odd[x"]);
        let t = tree(&pairs(&[
            ("expand[]", "a"),
            ("expand[]", "b"),
            ("m[k]", "v"),
        ]))
        .unwrap();
        let v = |s: &str| Param::Value(s.into());
        assert_eq!(
            t,
            vec![
                (
                    "expand".into(),
                    Param::Node(vec![("0".into(), v("a")), ("1".into(), v("b"))])
                ),
                ("m".into(), Param::Node(vec![("k".into(), v("v"))])),
            ]
        );
        assert_eq!(
            tree(&pairs(&[("a", "1"), ("a[b]", "2")])),
            Err(Conflict("a".into()))
        );
    }
}
