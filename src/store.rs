//! State that survives restarts, in an embedded SQLite database (`--state
//! FILE`): the session inventory with its counters, first and last seen,
//! class, verdict and alerted kinds, the volume baselines, and the
//! configuration events inside the correlation window. Checkpointed by the
//! pipeline periodically and at shutdown, restored at start.
//!
//! A database that is corrupt, locked by another process, of a newer
//! schema or not mirrorwatch's (another program's tables, or a table of
//! ours of another shape) is an error naming the file, and is left as it
//! was; starting afresh takes an explicit `--fresh-state`, never silently.
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, params};

use crate::decode::Encap;
pub use crate::detect::saved::{SavedSession, Snapshot};
use crate::detect::{DstClass, SessionKey, Verdict};
use crate::logs::ConfigEvent;

/// The schema this build writes and reads.
pub const SCHEMA_VERSION: i64 = 2;

/// Why the state database cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {reason}")]
    Open { path: String, reason: String },
    #[error(
        "{path}: state database of schema {found}, newer than this mirrorwatch reads ({SCHEMA_VERSION}); use a newer mirrorwatch, or --fresh-state to start afresh"
    )]
    Newer { path: String, found: i64 },
    #[error(
        "{path}: not a usable state database ({reason}); move it away, or start afresh with --fresh-state"
    )]
    Corrupt { path: String, reason: String },
    #[error("{path}: state database is locked by another process ({reason})")]
    Locked { path: String, reason: String },
    #[error("{path}: cannot write the state: {reason}")]
    Write { path: String, reason: String },
}

/// The cells of one row being loaded: each error names the table, the
/// row and the column (a hand-edited or damaged database).
struct Cells<'r, 's> {
    row: &'r rusqlite::Row<'s>,
    table: &'static str,
    rowid: i64,
    path: &'r Path,
}

impl<'r, 's> Cells<'r, 's> {
    fn new(row: &'r rusqlite::Row<'s>, table: &'static str, rowid: i64, path: &'r Path) -> Self {
        Cells {
            row,
            table,
            rowid,
            path,
        }
    }

    fn column(&self, i: usize) -> &str {
        self.row.as_ref().column_name(i).unwrap_or("?")
    }

    fn bad(&self, what: &str) -> StoreError {
        StoreError::Corrupt {
            path: s(self.path),
            reason: format!("{} row {}: bad {what}", self.table, self.rowid),
        }
    }

    fn get<T: rusqlite::types::FromSql>(&self, i: usize) -> Result<T, StoreError> {
        self.row.get::<_, T>(i).map_err(|e| {
            let why = match e {
                rusqlite::Error::InvalidColumnType(_, _, t) => format!("a {t} cell"),
                e => e.to_string(),
            };
            self.bad(&format!("{}: {why}", self.column(i)))
        })
    }

    fn text(&self, i: usize) -> Result<String, StoreError> {
        self.get(i)
    }

    fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.get(i)
    }

    /// A counter: not negative.
    fn count(&self, i: usize) -> Result<u64, StoreError> {
        let v = self.int(i)?;
        u64::try_from(v).map_err(|_| self.bad(&format!("{}: {v} is not a count", self.column(i))))
    }

    /// A set of 16 flags.
    fn bits(&self, i: usize) -> Result<u16, StoreError> {
        let v = self.int(i)?;
        u16::try_from(v)
            .map_err(|_| self.bad(&format!("{}: {v} is not a set of flags", self.column(i))))
    }
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn classify(path: &Path, e: &rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    let reason = e.to_string();
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Locked {
            path: s(path),
            reason,
        },
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
            path: s(path),
            reason,
        },
        _ => StoreError::Open {
            path: s(path),
            reason,
        },
    }
}

/// The tables this build writes (schemas 1 and 2 alike; 2 added
/// `flow_sessions`): created by [`Store::open`], and what an existing
/// database's tables are checked against.
const TABLES_SQL: &str = "
    CREATE TABLE IF NOT EXISTS sessions (
        encap TEXT NOT NULL, src TEXT NOT NULL, dst TEXT NOT NULL, id INTEGER,
        packets INTEGER NOT NULL, bytes INTEGER NOT NULL, inner_bytes INTEGER NOT NULL,
        first_seen_us INTEGER NOT NULL, last_seen_us INTEGER NOT NULL,
        dst_class TEXT NOT NULL, verdict TEXT NOT NULL,
        alerted INTEGER NOT NULL, alerted_ever INTEGER NOT NULL,
        dup_packets INTEGER NOT NULL, baseline REAL NOT NULL, seconds INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS config_events (event TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS flow_sessions (
        encap TEXT NOT NULL, src TEXT NOT NULL, dst TEXT NOT NULL, id INTEGER,
        packets INTEGER NOT NULL, bytes INTEGER NOT NULL,
        first_seen_us INTEGER NOT NULL, last_seen_us INTEGER NOT NULL,
        seen_by INTEGER NOT NULL, exporters TEXT NOT NULL,
        sampling_rate INTEGER NOT NULL, estimated INTEGER NOT NULL,
        dst_class TEXT NOT NULL, verdict TEXT NOT NULL,
        alerted INTEGER NOT NULL, alerted_ever INTEGER NOT NULL);";

/// The tables of `conn` and their columns.
fn tables_of(conn: &Connection) -> rusqlite::Result<Vec<(String, Vec<String>)>> {
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<_, _>>()?;
    names
        .into_iter()
        .map(|t| {
            let cols = conn
                .prepare("SELECT name FROM pragma_table_info(?1)")?
                .query_map([&t], |r| r.get::<_, String>(0))?
                .collect::<Result<_, _>>()?;
            Ok((t, cols))
        })
        .collect()
}

/// Why an existing database is not mirrorwatch's state, if it is not: a
/// database with tables and no schema version (another program's), or a
/// table of ours without the columns this build reads.
fn check_schema(conn: &Connection, version: i64) -> Result<(), String> {
    let q = |e: rusqlite::Error| e.to_string();
    let have = tables_of(conn).map_err(q)?;
    if version == 0 && !have.is_empty() {
        let names: Vec<&str> = have.iter().map(|(t, _)| t.as_str()).collect();
        return Err(format!(
            "it holds tables ({}) but no mirrorwatch schema version: another program's database",
            names.join(", ")
        ));
    }
    let ours = Connection::open_in_memory()
        .and_then(|m| m.execute_batch(TABLES_SQL).map(|()| m))
        .and_then(|m| tables_of(&m))
        .map_err(q)?;
    for (table, want) in &ours {
        let Some((_, cols)) = have.iter().find(|(t, _)| t == table) else {
            continue;
        };
        if let Some(missing) = want.iter().find(|c| !cols.contains(c)) {
            return Err(format!(
                "table {table} has no column {missing}: not the schema of mirrorwatch's state"
            ));
        }
    }
    Ok(())
}

impl Store {
    /// Opens (or creates) the database and checks it; with `fresh`, what it
    /// held is dropped first.
    pub fn open(path: &Path, fresh: bool) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
                path: s(path),
                reason: format!("cannot create {}: {e}", dir.display()),
            })?;
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )
        .map_err(|e| classify(path, &e))?;
        let c = |e: rusqlite::Error| classify(path, &e);
        // Another sensor holding the database: refuse at once.
        conn.busy_timeout(std::time::Duration::from_millis(200))
            .map_err(c)?;
        // One writer: take the lock for the life of the process.
        conn.execute_batch("PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = MEMORY;")
            .map_err(c)?;
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(c)?;
        if check != "ok" {
            return Err(StoreError::Corrupt {
                path: s(path),
                reason: check,
            });
        }
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(c)?;
        if version > SCHEMA_VERSION && !fresh {
            return Err(StoreError::Newer {
                path: s(path),
                found: version,
            });
        }
        if !fresh {
            // Nothing is changed in a database that is not ours.
            check_schema(&conn, version).map_err(|reason| StoreError::Corrupt {
                path: s(path),
                reason,
            })?;
        } else {
            conn.execute_batch(
                "DROP TABLE IF EXISTS sessions; DROP TABLE IF EXISTS config_events;
                 DROP TABLE IF EXISTS flow_sessions;",
            )
            .map_err(c)?;
        }
        conn.execute_batch(&format!(
            "BEGIN EXCLUSIVE;
             {TABLES_SQL}
             PRAGMA user_version = {SCHEMA_VERSION};
             COMMIT;"
        ))
        .map_err(c)?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the database holds; rows that do not read back are an error
    /// naming the table and row.
    pub fn load(&self) -> Result<Snapshot, StoreError> {
        let c = |e: rusqlite::Error| classify(&self.path, &e);
        let corrupt = |what: String| StoreError::Corrupt {
            path: s(&self.path),
            reason: what,
        };
        let mut snap = Snapshot::default();
        let mut st = self
            .conn
            .prepare(
                "SELECT rowid, encap, src, dst, id, packets, bytes, inner_bytes, first_seen_us,
                        last_seen_us, dst_class, verdict, alerted, alerted_ever, dup_packets,
                        baseline, seconds FROM sessions",
            )
            .map_err(c)?;
        let mut rows = st.query([]).map_err(c)?;
        while let Some(r) = rows.next().map_err(c)? {
            let row: i64 = r.get(0).map_err(c)?;
            let cell = Cells::new(r, "sessions", row, &self.path);
            let encap = Encap::parse(&cell.text(1)?).ok_or_else(|| cell.bad("encap"))?;
            let src = cell.text(2)?.parse().map_err(|_| cell.bad("src"))?;
            let dst = cell.text(3)?.parse().map_err(|_| cell.bad("dst"))?;
            let id: Option<i64> = cell.get(4)?;
            snap.sessions.push(SavedSession {
                key: SessionKey {
                    encap,
                    src,
                    dst,
                    id: id.and_then(|v| u32::try_from(v).ok()),
                },
                packets: cell.count(5)?,
                bytes: cell.count(6)?,
                inner_bytes: cell.count(7)?,
                first_seen_us: cell.int(8)?,
                last_seen_us: cell.int(9)?,
                dst_class: DstClass::parse(&cell.text(10)?).ok_or_else(|| cell.bad("dst_class"))?,
                verdict: Verdict::parse(&cell.text(11)?).ok_or_else(|| cell.bad("verdict"))?,
                alerted: cell.bits(12)?,
                alerted_ever: cell.bits(13)?,
                dup_packets: cell.count(14)?,
                baseline: cell.get(15)?,
                seconds: cell.count(16)?,
            });
        }
        let mut st = self
            .conn
            .prepare(
                "SELECT rowid, encap, src, dst, id, packets, bytes, first_seen_us, last_seen_us,
                        seen_by, exporters, sampling_rate, estimated, dst_class, verdict,
                        alerted, alerted_ever FROM flow_sessions",
            )
            .map_err(c)?;
        let mut rows = st.query([]).map_err(c)?;
        while let Some(r) = rows.next().map_err(c)? {
            let row: i64 = r.get(0).map_err(c)?;
            let cell = Cells::new(r, "flow_sessions", row, &self.path);
            let id: Option<i64> = cell.get(4)?;
            let mut exporters = Vec::new();
            for e in cell.text(10)?.split(',').filter(|e| !e.is_empty()) {
                exporters.push(e.parse().map_err(|_| cell.bad("exporters"))?);
            }
            snap.flow_sessions
                .push(crate::detect::saved::SavedFlowSession {
                    key: SessionKey {
                        encap: Encap::parse(&cell.text(1)?).ok_or_else(|| cell.bad("encap"))?,
                        src: cell.text(2)?.parse().map_err(|_| cell.bad("src"))?,
                        dst: cell.text(3)?.parse().map_err(|_| cell.bad("dst"))?,
                        id: id.and_then(|v| u32::try_from(v).ok()),
                    },
                    packets: cell.count(5)?,
                    bytes: cell.count(6)?,
                    first_seen_us: cell.int(7)?,
                    last_seen_us: cell.int(8)?,
                    seen_by: cell.bits(9)?,
                    exporters,
                    sampling_rate: u32::try_from(cell.int(11)?)
                        .map_err(|_| cell.bad("sampling_rate"))?,
                    estimated: cell.int(12)? != 0,
                    dst_class: DstClass::parse(&cell.text(13)?)
                        .ok_or_else(|| cell.bad("dst_class"))?,
                    verdict: Verdict::parse(&cell.text(14)?).ok_or_else(|| cell.bad("verdict"))?,
                    alerted: cell.bits(15)?,
                    alerted_ever: cell.bits(16)?,
                });
        }
        let mut st = self
            .conn
            .prepare("SELECT rowid, event FROM config_events ORDER BY rowid")
            .map_err(c)?;
        let mut rows = st.query([]).map_err(c)?;
        while let Some(r) = rows.next().map_err(c)? {
            let row: i64 = r.get(0).map_err(c)?;
            let json: String = r.get(1).map_err(c)?;
            let e: ConfigEvent = serde_json::from_str(&json)
                .map_err(|e| corrupt(format!("config_events row {row}: {e}")))?;
            snap.events.push(e);
        }
        Ok(snap)
    }

    /// Replaces what the database holds with `snap`, in one transaction.
    pub fn save(&mut self, snap: &Snapshot) -> Result<(), StoreError> {
        let w = |e: rusqlite::Error| StoreError::Write {
            path: s(&self.path),
            reason: e.to_string(),
        };
        let tx = self.conn.transaction().map_err(w)?;
        tx.execute("DELETE FROM sessions", []).map_err(w)?;
        tx.execute("DELETE FROM config_events", []).map_err(w)?;
        tx.execute("DELETE FROM flow_sessions", []).map_err(w)?;
        {
            let mut ins = tx
                .prepare(
                    "INSERT INTO sessions VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                )
                .map_err(w)?;
            for x in &snap.sessions {
                ins.execute(params![
                    x.key.encap.as_str(),
                    x.key.src.to_string(),
                    x.key.dst.to_string(),
                    x.key.id.map(i64::from),
                    x.packets as i64,
                    x.bytes as i64,
                    x.inner_bytes as i64,
                    x.first_seen_us,
                    x.last_seen_us,
                    x.dst_class.as_str(),
                    x.verdict.as_str(),
                    i64::from(x.alerted),
                    i64::from(x.alerted_ever),
                    x.dup_packets as i64,
                    x.baseline,
                    x.seconds as i64,
                ])
                .map_err(w)?;
            }
            let mut ins = tx
                .prepare(
                    "INSERT INTO flow_sessions VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                )
                .map_err(w)?;
            for x in &snap.flow_sessions {
                let exporters: Vec<String> = x.exporters.iter().map(ToString::to_string).collect();
                ins.execute(params![
                    x.key.encap.as_str(),
                    x.key.src.to_string(),
                    x.key.dst.to_string(),
                    x.key.id.map(i64::from),
                    x.packets as i64,
                    x.bytes as i64,
                    x.first_seen_us,
                    x.last_seen_us,
                    i64::from(x.seen_by),
                    exporters.join(","),
                    i64::from(x.sampling_rate),
                    i64::from(x.estimated),
                    x.dst_class.as_str(),
                    x.verdict.as_str(),
                    i64::from(x.alerted),
                    i64::from(x.alerted_ever),
                ])
                .map_err(w)?;
            }
            let mut ins = tx
                .prepare("INSERT INTO config_events VALUES (?1)")
                .map_err(w)?;
            for e in &snap.events {
                let json = serde_json::to_string(e).map_err(|e| StoreError::Write {
                    path: s(&self.path),
                    reason: e.to_string(),
                })?;
                ins.execute(params![json]).map_err(w)?;
            }
        }
        tx.commit().map_err(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("mw-store-{}-{name}", std::process::id()));
        std::fs::remove_dir_all(&d).ok();
        d.join("state.db")
    }

    fn session(i: u32) -> SavedSession {
        SavedSession {
            key: SessionKey {
                encap: Encap::Erspan2,
                src: "10.0.0.1".parse().expect("ip"),
                dst: "203.0.113.9".parse().expect("ip"),
                id: Some(i),
            },
            packets: 10,
            bytes: 1000,
            inner_bytes: 900,
            first_seen_us: 1,
            last_seen_us: 2,
            dst_class: DstClass::External,
            verdict: Verdict::Mirror,
            alerted: 3,
            alerted_ever: 3,
            dup_packets: 1,
            baseline: 12.5,
            seconds: 4,
        }
    }

    #[test]
    fn saves_and_loads_and_refuses_what_it_cannot_use() {
        let p = tmp("roundtrip");
        {
            let mut s = Store::open(&p, false).expect("open");
            let mut e = ConfigEvent::new(
                crate::logs::Platform::Aws,
                crate::logs::Action::Create,
                "{}",
                "f:1",
            );
            e.vni = Some(42);
            let flow = crate::detect::saved::SavedFlowSession {
                key: SessionKey {
                    encap: Encap::Gre,
                    src: "10.0.0.1".parse().expect("ip"),
                    dst: "203.0.113.9".parse().expect("ip"),
                    id: None,
                },
                packets: 300,
                bytes: 30_000,
                first_seen_us: 1,
                last_seen_us: 2,
                seen_by: 0b101,
                exporters: vec![
                    "192.0.2.1".parse().expect("ip"),
                    "2001:db8::1".parse().expect("ip"),
                ],
                sampling_rate: 100,
                estimated: true,
                dst_class: DstClass::External,
                verdict: Verdict::Mirror,
                alerted: 3,
                alerted_ever: 7,
            };
            s.save(&Snapshot {
                sessions: vec![session(1), session(2)],
                events: vec![e.clone()],
                flow_sessions: vec![flow.clone()],
            })
            .expect("save");
            let back = s.load().expect("load");
            assert_eq!(back.sessions, vec![session(1), session(2)]);
            assert_eq!(back.events, vec![e]);
            assert_eq!(back.flow_sessions, vec![flow]);
            // Held by this process: another one is refused.
            let err = Store::open(&p, false).err().expect("locked");
            assert!(matches!(err, StoreError::Locked { .. }), "{err}");
        }
        // Reopened after the first closed: the state is there.
        assert_eq!(
            Store::open(&p, false)
                .expect("reopen")
                .load()
                .expect("load")
                .sessions
                .len(),
            2
        );
        // A newer schema is refused, naming the file; --fresh-state clears.
        {
            let c = Connection::open(&p).expect("raw");
            c.execute_batch("PRAGMA user_version = 99").expect("bump");
        }
        let err = Store::open(&p, false).err().expect("newer");
        assert!(
            err.to_string().contains("state.db") && err.to_string().contains("schema 99"),
            "{err}"
        );
        let fresh = Store::open(&p, true).expect("fresh");
        assert!(fresh.load().expect("load").sessions.is_empty());
        drop(fresh);
        // Not a database at all.
        std::fs::write(
            &p,
            b"this is not sqlite, it is text long enough to be a header....",
        )
        .expect("write");
        let err = Store::open(&p, false).err().expect("corrupt");
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        std::fs::remove_dir_all(p.parent().expect("dir")).ok();
    }

    /// A hand-edited cell (a negative counter, flags out of range, text
    /// where a number belongs) is refused naming the table, row and column.
    #[test]
    fn a_bad_cell_is_named_with_its_row_and_column() {
        let p = tmp("cells");
        for (edit, says) in [
            (
                "UPDATE sessions SET packets = -5 WHERE rowid = 2",
                "sessions row 2: bad packets: -5 is not a count",
            ),
            (
                "UPDATE sessions SET alerted = 70000 WHERE rowid = 1",
                "sessions row 1: bad alerted: 70000 is not a set of flags",
            ),
            (
                "UPDATE sessions SET bytes = 'many' WHERE rowid = 2",
                "sessions row 2: bad bytes: a Text cell",
            ),
            (
                "UPDATE sessions SET src = 'not an address' WHERE rowid = 1",
                "sessions row 1: bad src",
            ),
        ] {
            // Each edit on a fresh copy of the saved rows.
            {
                let mut s = Store::open(&p, false).expect("open");
                s.save(&Snapshot {
                    sessions: vec![session(1), session(2)],
                    ..Snapshot::default()
                })
                .expect("save");
            }
            Connection::open(&p)
                .expect("raw")
                .execute_batch(edit)
                .expect("edit");
            let err = Store::open(&p, false)
                .expect("open")
                .load()
                .expect_err("refused");
            let text = err.to_string();
            assert!(matches!(err, StoreError::Corrupt { .. }), "{edit}: {text}");
            assert!(text.contains(says), "{edit}: {text}");
            assert!(text.contains("--fresh-state"), "{text}");
        }
        std::fs::remove_dir_all(p.parent().expect("dir")).ok();
    }

    /// Another program's database, or a table of ours of another shape, is
    /// refused with the --fresh-state hint, and left as it was.
    #[test]
    fn a_database_that_is_not_ours_is_refused_unchanged() {
        let p = tmp("foreign");
        std::fs::create_dir_all(p.parent().expect("dir")).expect("mkdir");
        let shape = |p: &Path| {
            let c = Connection::open(p).expect("raw");
            let tables: Vec<String> = c
                .prepare("SELECT name FROM sqlite_master ORDER BY name")
                .and_then(|mut st| {
                    st.query_map([], |r| r.get::<_, String>(0))?
                        .collect::<Result<Vec<_>, _>>()
                })
                .expect("tables");
            let v: i64 = c
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .expect("version");
            (tables, v)
        };
        for (setup, says) in [
            (
                "CREATE TABLE cookies (host TEXT, value TEXT);",
                "another program",
            ),
            (
                "CREATE TABLE sessions (a, b); PRAGMA user_version = 1;",
                "table sessions has no column encap",
            ),
        ] {
            std::fs::remove_file(&p).ok();
            Connection::open(&p)
                .expect("raw")
                .execute_batch(setup)
                .expect("setup");
            let before = shape(&p);
            let err = Store::open(&p, false).err().expect("refused").to_string();
            assert!(err.contains(says) && err.contains("--fresh-state"), "{err}");
            assert_eq!(shape(&p), before, "{setup}");
            // --fresh-state takes it over, as it says.
            let fresh = Store::open(&p, true).expect("fresh");
            assert!(fresh.load().expect("load").sessions.is_empty());
        }
        std::fs::remove_dir_all(p.parent().expect("dir")).ok();
    }
}
