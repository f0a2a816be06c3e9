//! Container id validation: ids become directory names under the state root,
//! so anything that could escape it is refused.

use crate::error::{ContainerError, Result};

/// Accepts ids as runc does: letters, digits and `_ + - .`, not `.` or `..`,
/// at most 1024 bytes.
pub fn validate(id: &str) -> Result<()> {
    let invalid = |reason| {
        Err(ContainerError::InvalidId {
            id: id.to_string(),
            reason,
        })
    };
    if id.is_empty() {
        return invalid("it is empty");
    }
    if id == "." || id == ".." {
        return invalid("it names a directory");
    }
    if id.len() > 1024 {
        return invalid("it is longer than 1024 bytes");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b))
    {
        return invalid("only letters, digits and _ + - . are allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn accepts_docker_ids() {
        assert!(validate("0123abc_def-1.2+3").is_ok());
        assert!(validate(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn refuses_path_characters() {
        for bad in ["", ".", "..", "a/b", "../x", "a b", "a\0b", "x\n"] {
            assert!(validate(bad).is_err(), "{bad:?} accepted");
        }
    }
}
