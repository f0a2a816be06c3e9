//! Container ids and docker's random names (`adjective_surname`).

use std::fs::File;
use std::io::{self, Read};

const LEFT: &[&str] = &[
    "admiring",
    "adoring",
    "affectionate",
    "agitated",
    "amazing",
    "angry",
    "awesome",
    "blissful",
    "bold",
    "boring",
    "brave",
    "busy",
    "charming",
    "clever",
    "cool",
    "compassionate",
    "competent",
    "confident",
    "crazy",
    "dazzling",
    "determined",
    "distracted",
    "dreamy",
    "eager",
    "ecstatic",
    "elastic",
    "elated",
    "elegant",
    "eloquent",
    "epic",
    "fervent",
    "festive",
    "flamboyant",
    "focused",
    "friendly",
    "frosty",
    "gallant",
    "gifted",
    "goofy",
    "gracious",
    "happy",
    "hardcore",
    "heuristic",
    "hopeful",
    "hungry",
    "infallible",
    "inspiring",
    "jolly",
    "jovial",
    "keen",
    "kind",
    "laughing",
    "loving",
    "lucid",
    "magical",
    "modest",
    "musing",
    "mystifying",
    "naughty",
    "nervous",
    "nice",
    "nifty",
    "nostalgic",
    "objective",
    "optimistic",
    "peaceful",
    "pedantic",
    "pensive",
    "practical",
    "priceless",
    "quirky",
    "quizzical",
    "relaxed",
    "reverent",
    "romantic",
    "sad",
    "serene",
    "sharp",
    "silly",
    "sleepy",
    "stoic",
    "strange",
    "stupefied",
    "suspicious",
    "sweet",
    "tender",
    "thirsty",
    "trusting",
    "unruffled",
    "upbeat",
    "vibrant",
    "vigilant",
    "vigorous",
    "wizardly",
    "wonderful",
    "xenodochial",
    "youthful",
    "zealous",
    "zen",
];

const RIGHT: &[&str] = &[
    "albattani",
    "allen",
    "almeida",
    "archimedes",
    "ardinghelli",
    "aryabhata",
    "austin",
    "babbage",
    "banach",
    "bardeen",
    "bartik",
    "bassi",
    "bell",
    "bhabha",
    "bohr",
    "booth",
    "borg",
    "bose",
    "boyd",
    "brahmagupta",
    "brattain",
    "brown",
    "carson",
    "cerf",
    "chandrasekhar",
    "chatelet",
    "chaum",
    "clarke",
    "colden",
    "cori",
    "cray",
    "curie",
    "darwin",
    "davinci",
    "dijkstra",
    "dubinsky",
    "easley",
    "edison",
    "einstein",
    "elion",
    "engelbart",
    "euclid",
    "euler",
    "fermat",
    "fermi",
    "feynman",
    "franklin",
    "gagarin",
    "galileo",
    "gates",
    "goldberg",
    "goldstine",
    "goodall",
    "hamilton",
    "hawking",
    "heisenberg",
    "hermann",
    "hodgkin",
    "hopper",
    "hypatia",
    "jackson",
    "jennings",
    "jepsen",
    "johnson",
    "joliot",
    "kalam",
    "kapitsa",
    "keller",
    "kepler",
    "khorana",
    "kilby",
    "knuth",
    "lalande",
    "lamarr",
    "lamport",
    "leakey",
    "leavitt",
    "lovelace",
    "lumiere",
    "mahavira",
    "mayer",
    "mccarthy",
    "mcclintock",
    "meitner",
    "mendel",
    "merkle",
    "minsky",
    "mirzakhani",
    "moore",
    "morse",
    "napier",
    "nash",
    "neumann",
    "newton",
    "nobel",
    "noether",
    "pare",
    "pascal",
    "pasteur",
    "perlman",
    "pike",
    "poincare",
    "ptolemy",
    "raman",
    "ritchie",
    "rosalind",
    "sammet",
    "shannon",
    "shaw",
    "shirley",
    "sinoussi",
    "snyder",
    "spence",
    "stonebraker",
    "swanson",
    "swartz",
    "tesla",
    "thompson",
    "torvalds",
    "turing",
    "villani",
    "wescoff",
    "wilbur",
    "wiles",
    "williams",
    "wing",
    "wozniak",
    "wright",
    "yalow",
    "yonath",
];

fn random_bytes<const N: usize>() -> io::Result<[u8; N]> {
    let mut b = [0u8; N];
    File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b)
}

/// A new container id: 64 hex digits from the kernel's random source, never all digits (docker
/// retries those so that an id prefix is never read as a number).
pub(crate) fn new_id() -> io::Result<String> {
    loop {
        let b: [u8; 32] = random_bytes()?;
        let id: String = b.iter().map(|x| format!("{x:02x}")).collect();
        if id.chars().take(12).any(|c| c.is_ascii_alphabetic()) {
            return Ok(id);
        }
    }
}

/// A random `adjective_surname`, with a digit appended after the first try (`retry` > 0).
pub(crate) fn random_name(retry: u32) -> io::Result<String> {
    let b: [u8; 3] = random_bytes()?;
    let left = LEFT[usize::from(b[0]) % LEFT.len()];
    let right = RIGHT[usize::from(b[1]) % RIGHT.len()];
    let mut name = format!("{left}_{right}");
    if retry > 0 {
        name.push_str(&(b[2] % 10).to_string());
    }
    Ok(name)
}

/// Whether `name` is a valid container name (dockerd's `[a-zA-Z0-9][a-zA-Z0-9_.-]+`).
pub(crate) fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names() {
        let id = new_id().unwrap();
        assert_eq!(id.len(), 64);
        assert!(id.bytes().all(|c| c.is_ascii_hexdigit()));
        let n = random_name(0).unwrap();
        assert!(n.contains('_') && valid_name(&n), "{n}");
        assert!(valid_name("web-1.a_b"));
        assert!(!valid_name("-x") && !valid_name("a") && !valid_name("a/b") && !valid_name(""));
    }
}
