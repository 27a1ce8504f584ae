//! A small writer of MaxMind DB files (format 2.0), so the GeoIP tests run against a real
//! database file that they build themselves: a 128-bit search tree with 24-bit records,
//! IPv4 networks under `::/96` as in GeoLite2, and records shaped like GeoIP2 City.

use std::path::Path;

enum Value {
    Str(String),
    U16(u16),
    U32(u32),
    U64(u64),
    Map(Vec<(&'static str, Value)>),
    Array(Vec<Value>),
}

fn control(out: &mut Vec<u8>, ty: u8, size: usize) {
    let (bits, extra): (u8, Vec<u8>) = if size < 29 {
        (size as u8, vec![])
    } else if size < 285 {
        (29, vec![(size - 29) as u8])
    } else if size < 65_821 {
        (30, ((size - 285) as u16).to_be_bytes().to_vec())
    } else {
        (31, ((size - 65_821) as u32).to_be_bytes()[1..].to_vec())
    };
    if ty <= 7 {
        out.push((ty << 5) | bits);
    } else {
        out.push(bits);
        out.push(ty - 7);
    }
    out.extend(extra);
}

fn uint(out: &mut Vec<u8>, ty: u8, v: u64, width: usize) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().max(8 - width);
    control(out, ty, 8 - skip);
    out.extend(&bytes[skip..]);
}

fn encode(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Str(s) => {
            control(out, 2, s.len());
            out.extend(s.as_bytes());
        }
        Value::U16(n) => uint(out, 5, u64::from(*n), 2),
        Value::U32(n) => uint(out, 6, u64::from(*n), 4),
        Value::U64(n) => uint(out, 9, *n, 8),
        Value::Map(pairs) => {
            control(out, 7, pairs.len());
            for (k, v) in pairs {
                encode(out, &Value::Str((*k).to_string()));
                encode(out, v);
            }
        }
        Value::Array(items) => {
            control(out, 11, items.len());
            for v in items {
                encode(out, v);
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Rec {
    Empty,
    Node(usize),
    Data(usize),
}

fn names(en: &str) -> Value {
    Value::Map(vec![("names", Value::Map(vec![("en", Value::Str(en.to_string()))]))])
}

/// Writes a City database to `path` whose `networks` (CIDR, city, country) resolve to
/// those names.
pub fn write_city(path: &Path, networks: &[(&str, Option<&str>, &str)]) {
    write(path, "GeoLite2-City", networks);
}

/// Writes a database of any `database_type` (to test that the wrong kind is refused).
pub fn write(path: &Path, database_type: &str, networks: &[(&str, Option<&str>, &str)]) {
    let mut data = Vec::new();
    let mut nodes: Vec<[Rec; 2]> = vec![[Rec::Empty, Rec::Empty]];
    for (cidr, city, country) in networks {
        let offset = data.len();
        let mut rec = vec![("country", names(country))];
        if let Some(c) = city {
            rec.insert(0, ("city", names(c)));
        }
        encode(&mut data, &Value::Map(rec));

        let net: ipnet::IpNet = cidr.parse().expect("a CIDR network");
        let (addr, len) = match net {
            ipnet::IpNet::V4(n) => (u128::from(n.network().to_bits()), 96 + n.prefix_len()),
            ipnet::IpNet::V6(n) => (n.network().to_bits(), n.prefix_len()),
        };
        let mut node = 0;
        for i in 0..len {
            let bit = ((addr >> (127 - i)) & 1) as usize;
            if i + 1 == len {
                nodes[node][bit] = Rec::Data(offset);
            } else {
                node = match nodes[node][bit] {
                    Rec::Node(n) => n,
                    _ => {
                        nodes.push([Rec::Empty, Rec::Empty]);
                        let n = nodes.len() - 1;
                        nodes[node][bit] = Rec::Node(n);
                        n
                    }
                };
            }
        }
    }

    let count = nodes.len();
    let mut out = Vec::new();
    for pair in &nodes {
        for r in pair {
            let v = match *r {
                Rec::Empty => count,
                Rec::Node(n) => n,
                Rec::Data(off) => count + 16 + off,
            } as u32;
            out.extend(&v.to_be_bytes()[1..]);
        }
    }
    out.extend([0u8; 16]);
    out.extend(&data);
    out.extend(b"\xAB\xCD\xEFMaxMind.com");
    let meta = Value::Map(vec![
        ("binary_format_major_version", Value::U16(2)),
        ("binary_format_minor_version", Value::U16(0)),
        ("build_epoch", Value::U64(1_700_000_000)),
        ("database_type", Value::Str(database_type.to_string())),
        (
            "description",
            Value::Map(vec![("en", Value::Str("Gatehouse test database".into()))]),
        ),
        ("ip_version", Value::U16(6)),
        ("languages", Value::Array(vec![Value::Str("en".into())])),
        ("node_count", Value::U32(count as u32)),
        ("record_size", Value::U16(24)),
    ]);
    encode(&mut out, &meta);
    std::fs::write(path, out).expect("write the test database");
}
