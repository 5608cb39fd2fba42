//! Streaming readers that hand DECP records to a callback one at a time, so that a
//! national file (≈2 GB) never sits in memory: a serde visitor walks the `marches`
//! array (2019) or the `marches.marche` / `marches.contrat-concession` arrays
//! (2022/2024); a quick-xml event loop turns each `<marche>`/`<contrat-concession>`
//! element into a `serde_json::Value` so that one normaliser serves both syntaxes.

use std::fmt;
use std::io::{BufRead, Read};

use quick_xml::events::Event;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::sanitize::{Repairs, SanitizingReader};

/// What the list a record came from says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListHint {
    /// 2019 JSON: one mixed `marches` array; the record's fields decide.
    Mixed,
    Marche,
    Concession,
}

/// A record as read, before normalisation.
#[derive(Debug, Clone)]
pub struct RawRecord {
    /// 0-based position in the file (across both lists).
    pub index: u64,
    pub hint: ListHint,
    /// 2022/2024 layout (`marches` is an object of lists).
    pub format_2022: bool,
    pub value: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(
        "JSON illisible après {records} enregistrements (ligne {line}, colonne {column}) : {message}"
    )]
    Json {
        records: u64,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("XML illisible après {records} enregistrements (octet {position}) : {message}")]
    Xml {
        records: u64,
        position: u64,
        message: String,
    },
    #[error("aucune liste `marches` dans le fichier")]
    NoMarches,
    #[error("lecture interrompue par l'importeur : {0}")]
    Sink(String),
}

/// The callback's answer: keep going, or stop with a reason (e.g. a database error).
pub type SinkResult = Result<(), String>;

struct Ctx<'a> {
    sink: &'a mut dyn FnMut(RawRecord) -> SinkResult,
    next_index: u64,
    saw_marches: bool,
    sink_error: Option<String>,
}

impl Ctx<'_> {
    fn emit<E: de::Error>(
        &mut self,
        hint: ListHint,
        format_2022: bool,
        value: Value,
    ) -> Result<(), E> {
        let record = RawRecord {
            index: self.next_index,
            hint,
            format_2022,
            value,
        };
        self.next_index += 1;
        (self.sink)(record).map_err(|e| {
            self.sink_error = Some(e);
            E::custom("interrompu")
        })
    }
}

/// Reads a DECP JSON document (either format) and calls `sink` for every record.
/// Returns the number of records read and the byte repairs made.
pub fn read_json<R: Read>(
    reader: R,
    sink: &mut dyn FnMut(RawRecord) -> SinkResult,
) -> Result<(u64, Repairs), SourceError> {
    let mut sanitizer =
        SanitizingReader::new(std::io::BufReader::with_capacity(256 * 1024, reader));
    let mut ctx = Ctx {
        sink,
        next_index: 0,
        saw_marches: false,
        sink_error: None,
    };
    let result = {
        let mut de = serde_json::Deserializer::from_reader(&mut sanitizer);
        let r = TopSeed { ctx: &mut ctx }.deserialize(&mut de);
        r.and_then(|()| de.end())
    };
    if let Some(e) = ctx.sink_error.take() {
        return Err(SourceError::Sink(e));
    }
    if let Err(e) = result {
        return Err(SourceError::Json {
            records: ctx.next_index,
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        });
    }
    if !ctx.saw_marches {
        return Err(SourceError::NoMarches);
    }
    Ok((ctx.next_index, sanitizer.repairs()))
}

struct TopSeed<'a, 'b> {
    ctx: &'a mut Ctx<'b>,
}

impl<'de> DeserializeSeed<'de> for TopSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("un objet {\"marches\": …}")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "marches" {
                self.ctx.saw_marches = true;
                map.next_value_seed(MarchesSeed { ctx: self.ctx })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct MarchesSeed<'a, 'b> {
    ctx: &'a mut Ctx<'b>,
}

impl<'de> DeserializeSeed<'de> for MarchesSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MarchesSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("une liste de marchés ou un objet {marche, contrat-concession}")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        ListSeed {
            ctx: self.ctx,
            hint: ListHint::Mixed,
            format_2022: false,
        }
        .visit_seq(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            let hint = match key.as_str() {
                "marche" => ListHint::Marche,
                "contrat-concession" | "contratConcession" => ListHint::Concession,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            map.next_value_seed(ListSeed {
                ctx: self.ctx,
                hint,
                format_2022: true,
            })?;
        }
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

struct ListSeed<'a, 'b> {
    ctx: &'a mut Ctx<'b>,
    hint: ListHint,
    format_2022: bool,
}

impl<'de> DeserializeSeed<'de> for ListSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ListSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("une liste d'enregistrements")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(value) = seq.next_element::<Value>()? {
            self.ctx
                .emit::<A::Error>(self.hint, self.format_2022, value)?;
        }
        Ok(())
    }
    /// A single record where a list was expected (naive XML→JSON conversions).
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let value = Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
        self.ctx
            .emit::<A::Error>(self.hint, self.format_2022, value)
    }
}

use serde::Deserialize;

/// Reads a DECP XML document (either format) and calls `sink` for every record.
pub fn read_xml<R: BufRead>(
    reader: R,
    sink: &mut dyn FnMut(RawRecord) -> SinkResult,
) -> Result<(u64, Repairs), SourceError> {
    let mut xml = quick_xml::Reader::from_reader(reader);
    let mut buf = Vec::new();
    let mut depth = 0usize;
    let mut saw_root = false;
    // Records sit under `<marches>` (depth 2), or are the root itself in single-record files.
    let mut record_depth = 2usize;
    let mut count = 0u64;
    // Stack of (element name, children, text) for the record being built.
    let mut stack: Vec<(String, Map<String, Value>, String)> = Vec::new();
    let mut hint = ListHint::Marche;
    let err = |xml: &quick_xml::Reader<R>, count: u64, message: String| SourceError::Xml {
        records: count,
        position: xml.buffer_position(),
        message,
    };
    loop {
        let event = match xml.read_event_into(&mut buf) {
            Ok(e) => e,
            Err(e) => return Err(err(&xml, count, e.to_string())),
        };
        match event {
            Event::Start(start) => {
                let name = start.local_name().as_ref().to_string();
                depth += 1;
                if depth == 1 && name == "marches" {
                    saw_root = true;
                } else if depth == record_depth || (depth == 1 && is_record_element(&name)) {
                    if depth == 1 {
                        saw_root = true;
                        record_depth = 1;
                    }
                    hint = if name == "contrat-concession" {
                        ListHint::Concession
                    } else {
                        ListHint::Marche
                    };
                    stack.push((name, Map::new(), String::new()));
                } else if !stack.is_empty() {
                    stack.push((name, Map::new(), String::new()));
                }
            }
            Event::Empty(start) => {
                if stack.is_empty() && depth + 1 == record_depth && saw_root {
                    // `<marche/>`: a record with nothing in it is read, then rejected.
                    let record = RawRecord {
                        index: count,
                        hint,
                        format_2022: false,
                        value: Value::Null,
                    };
                    count += 1;
                    sink(record).map_err(SourceError::Sink)?;
                } else if depth >= record_depth {
                    let name = start.local_name().as_ref().to_string();
                    if let Some(top) = stack.last_mut() {
                        insert_child(&mut top.1, name, Value::Null);
                    }
                }
            }
            Event::Text(text) => {
                if let Some(top) = stack.last_mut() {
                    top.2.push_str(&text.xml10_content());
                }
            }
            Event::CData(data) => {
                if let Some(top) = stack.last_mut() {
                    top.2.push_str(data.as_ref());
                }
            }
            Event::GeneralRef(r) => {
                if let Some(top) = stack.last_mut() {
                    let name: String = r.as_ref().to_string();
                    let resolved = match name.as_str() {
                        "amp" => "&".to_string(),
                        "lt" => "<".to_string(),
                        "gt" => ">".to_string(),
                        "quot" => "\"".to_string(),
                        "apos" => "'".to_string(),
                        _ => match r.resolve_char_ref() {
                            Ok(Some(c)) => c.to_string(),
                            _ => String::new(),
                        },
                    };
                    top.2.push_str(&resolved);
                }
            }
            Event::End(_) => {
                if depth >= record_depth
                    && let Some((name, children, text)) = stack.pop()
                {
                    let value = if children.is_empty() {
                        let text = text.trim();
                        if text.is_empty() {
                            Value::Null
                        } else {
                            Value::String(text.to_string())
                        }
                    } else {
                        Value::Object(children)
                    };
                    if let Some(parent) = stack.last_mut() {
                        insert_child(&mut parent.1, name, value);
                    } else {
                        let record = RawRecord {
                            index: count,
                            hint,
                            format_2022: looks_2022(&value),
                            value,
                        };
                        count += 1;
                        sink(record).map_err(SourceError::Sink)?;
                    }
                }
                depth = depth.saturating_sub(1);
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !saw_root {
        return Err(SourceError::NoMarches);
    }
    Ok((count, Repairs::default()))
}

fn is_record_element(name: &str) -> bool {
    name == "marche" || name == "contrat-concession"
}

/// 2019 XML and 2022 XML share element names; 2022 records have fields 2019 lacks.
fn looks_2022(value: &Value) -> bool {
    const ONLY_2022: [&str; 6] = [
        "offresRecues",
        "considerationsSociales",
        "techniques",
        "typesPrix",
        "marcheInnovant",
        "datePublicationDonneesExecution",
    ];
    ONLY_2022.iter().any(|k| value.get(k).is_some())
}

fn insert_child(map: &mut Map<String, Value>, name: String, value: Value) {
    match map.get_mut(&name) {
        Some(Value::Array(items)) => items.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
        None => {
            map.insert(name, value);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn collect_json(s: &str) -> Vec<RawRecord> {
        let mut out = Vec::new();
        read_json(s.as_bytes(), &mut |r| {
            out.push(r);
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn json_2019_and_2022_layouts_stream_records() {
        let a = collect_json(r#"{"x":1,"marches":[{"id":"1"},{"id":"2"}]}"#);
        assert_eq!(a.len(), 2);
        assert_eq!(a[1].hint, ListHint::Mixed);
        let b = collect_json(
            r#"{"marches":{"marche":[{"id":"1"}],"contrat-concession":[{"id":"2"}]}}"#,
        );
        assert_eq!(b.len(), 2);
        assert_eq!(b[1].hint, ListHint::Concession);
        assert!(b[0].format_2022);
    }

    #[test]
    fn truncated_json_reports_where_it_stopped() {
        let mut n = 0;
        let e = read_json(r#"{"marches":[{"id":"1"},{"id":"#.as_bytes(), &mut |_| {
            n += 1;
            Ok(())
        })
        .unwrap_err();
        assert!(matches!(e, SourceError::Json { records: 1, .. }));
    }

    #[test]
    fn xml_records_become_values_with_repeated_children_as_lists() {
        let xml = "<marches><marche><id>1</id><titulaires><titulaire><id>a</id></titulaire><titulaire><id>b</id></titulaire></titulaires><objet>A &amp; B</objet></marche></marches>";
        let mut out = Vec::new();
        read_xml(xml.as_bytes(), &mut |r| {
            out.push(r);
            Ok(())
        })
        .unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].value["titulaires"]["titulaire"][1]["id"], "b");
        assert_eq!(out[0].value["objet"], "A & B");
    }
}
