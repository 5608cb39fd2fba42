mod procurement_common;

use procurement_common::*;

#[test]
fn print_counts() {
    let Some(data) = data_dir() else { return };
    let cpv = cpv(&data);
    let mut files: Vec<_> = walk(&data.join("decp"));
    files.sort();
    for f in files {
        let (_d, mut conn) = fresh_db();
        let file = std::fs::File::open(&f).unwrap();
        let r = carnet_server::procurement::import::import_reader(&mut conn, file, &cpv, "x", "t");
        match r {
            Ok(r) => println!(
                "{} read={} ins={} upd={} unch={} dup={} rej={} {:?} {:?}",
                f.display(),
                r.read,
                r.inserted,
                r.updated,
                r.unchanged,
                r.duplicates,
                r.rejected,
                r.rejection_reasons,
                r.repairs
            ),
            Err(e) => println!("{} ERR {e}", f.display()),
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            if !p.ends_with("schemas") {
                out.extend(walk(&p));
            }
        } else if p
            .extension()
            .is_some_and(|x| x == "json" || x == "xml" || x == "txt")
        {
            out.push(p);
        }
    }
    out
}
