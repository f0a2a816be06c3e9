//! Image metadata in an embedded SQLite database (rusqlite, bundled; WAL,
//! `synchronous=FULL`, foreign keys on): every change is one ACID
//! transaction.
//!
//! Tables (schema version 2, kept in `schema_version`):
//!
//! ```text
//! images(id, manifest, media_type, created, size, added)
//!     id = config digest (docker's image id); manifest = the platform manifest
//! image_layers(image_id, position, diff_id, blob, media_type, size)
//!     bottom layer first; blob = the (compressed) layer blob in the content store
//! refs(name, repository, tag, image_id, target, target_media_type, updated)
//!     name = docker.io/library/busybox:latest (a tag) or
//!     docker.io/library/busybox@sha256:... (a digest reference); target = the
//!     digest the name resolves to at the registry (an index or a manifest)
//! leases(id, created, owner), lease_content(lease, digest), lease_ingests(lease, reference)
//!     content that garbage collection must keep while a pull is in progress, and the
//!     ingests it writes; owner = the process that took the lease (crate::owner), so that
//!     the next daemon can end the leases of one that died (ImageStore::recover)
//! ```
//!
//! Version 1 had no `leases.owner` nor `lease_ingests`; opening it adds them (its leases get
//! an empty owner: nobody's).
//!
//! Docker's semantics on top: an image's id is its config digest;
//! `docker images` lists one row per tag; an image without tags is dangling;
//! untagging removes a row of `refs`; deleting an image removes its refs
//! and layers with it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use crate::digest::Digest;
use crate::error::MetadataError;
use crate::owner::Owner;
use crate::reference::Reference;

type Result<T> = std::result::Result<T, MetadataError>;

const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS images (
    id          TEXT PRIMARY KEY,
    manifest    TEXT NOT NULL,
    media_type  TEXT NOT NULL,
    created     TEXT,
    size        INTEGER NOT NULL,
    added       INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS image_layers (
    image_id    TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    diff_id     TEXT NOT NULL,
    blob        TEXT NOT NULL,
    media_type  TEXT NOT NULL,
    size        INTEGER NOT NULL,
    PRIMARY KEY (image_id, position)
);
CREATE INDEX IF NOT EXISTS image_layers_diff_id ON image_layers(diff_id);
CREATE TABLE IF NOT EXISTS refs (
    name              TEXT PRIMARY KEY,
    repository        TEXT NOT NULL,
    tag               TEXT,
    image_id          TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    target            TEXT NOT NULL,
    target_media_type TEXT NOT NULL,
    updated           INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS refs_image_id ON refs(image_id);
CREATE TABLE IF NOT EXISTS leases (
    id       TEXT PRIMARY KEY,
    created  INTEGER NOT NULL,
    owner    TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS lease_content (
    lease   TEXT NOT NULL REFERENCES leases(id) ON DELETE CASCADE,
    digest  TEXT NOT NULL,
    PRIMARY KEY (lease, digest)
);
";

/// Version 1 to 2: lease owners and the ingests a lease writes.
const MIGRATE_1_TO_2: &str = "
ALTER TABLE leases ADD COLUMN owner TEXT NOT NULL DEFAULT '';
";

/// Tables added after version 1 (created by both a new database and the migration).
const SCHEMA_2: &str = "
CREATE TABLE IF NOT EXISTS lease_ingests (
    lease      TEXT NOT NULL REFERENCES leases(id) ON DELETE CASCADE,
    reference  TEXT NOT NULL,
    PRIMARY KEY (lease, reference)
);
";

/// A lease: who took it, when, and the ingests it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord {
    pub id: String,
    /// Unix seconds.
    pub created: i64,
    /// The process that took it (`crate::owner::Owner`'s text), empty if unknown.
    pub owner: String,
}

/// One image: a config and the manifest that brought it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecord {
    /// The config digest: docker's image id.
    pub id: Digest,
    /// The platform manifest.
    pub manifest: Digest,
    pub media_type: String,
    /// The config's `created` (RFC 3339), if any.
    pub created: Option<String>,
    /// Size in bytes as the caller computes it (docker shows the unpacked size).
    pub size: u64,
    /// Unix seconds when the image was stored; set by [`Metadata::put_image`].
    pub added: i64,
    pub layers: Vec<LayerRecord>,
}

/// One layer of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRecord {
    /// The digest of the uncompressed tar (from the config's `rootfs`).
    pub diff_id: Digest,
    /// The layer blob (usually compressed) in the content store.
    pub blob: Digest,
    pub media_type: String,
    pub size: u64,
}

/// A name (tag or digest reference) of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefRecord {
    /// `docker.io/library/busybox:latest` or `...@sha256:...`.
    pub reference: Reference,
    pub image_id: Digest,
    /// What the name resolves to at a registry: an index or a manifest.
    pub target: Digest,
    pub target_media_type: String,
    pub updated: i64,
}

/// The metadata database. `Send + Sync`: one connection behind a mutex.
#[derive(Debug)]
pub struct Metadata {
    path: PathBuf,
    conn: Mutex<Connection>,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Metadata {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| MetadataError::Io {
                path: dir.to_owned(),
                source,
            })?;
        }
        let sql = |op| {
            let path = path.clone();
            move |source| MetadataError::Sqlite { op, path, source }
        };
        let mut conn = Connection::open(&path).map_err(sql("open"))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sql("set busy timeout"))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql("enable WAL"))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sql("set synchronous"))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(sql("enable foreign keys"))?;
        let tx = conn.transaction().map_err(sql("begin"))?;
        tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);")
            .map_err(sql("create schema_version"))?;
        let found: Option<i64> = tx
            .query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))
            .map_err(sql("read schema version"))?;
        match found {
            Some(v) if v > SCHEMA_VERSION => {
                return Err(MetadataError::SchemaTooNew {
                    path,
                    found: v,
                    known: SCHEMA_VERSION,
                })
            }
            Some(SCHEMA_VERSION) => {}
            Some(_) => {
                tx.execute_batch(MIGRATE_1_TO_2)
                    .map_err(sql("migrate to version 2"))?;
                tx.execute_batch(SCHEMA_2)
                    .map_err(sql("migrate to version 2"))?;
                tx.execute(
                    "INSERT INTO schema_version (version) VALUES (?1)",
                    [SCHEMA_VERSION],
                )
                .map_err(sql("write schema version"))?;
            }
            None => {
                tx.execute_batch(SCHEMA).map_err(sql("create tables"))?;
                tx.execute_batch(SCHEMA_2).map_err(sql("create tables"))?;
                tx.execute(
                    "INSERT INTO schema_version (version) VALUES (?1)",
                    [SCHEMA_VERSION],
                )
                .map_err(sql("write schema version"))?;
            }
        }
        tx.commit().map_err(sql("commit"))?;
        Ok(Metadata {
            path,
            conn: Mutex::new(conn),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, op: &'static str) -> impl FnOnce(rusqlite::Error) -> MetadataError + '_ {
        move |source| MetadataError::Sqlite {
            op,
            path: self.path.clone(),
            source,
        }
    }

    /// Runs `f` in one transaction, committed if it returns `Ok`.
    fn write<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let tx = conn.transaction().map_err(self.err(op))?;
        let out = f(&tx)?;
        tx.commit().map_err(self.err(op))?;
        Ok(out)
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&conn)
    }

    fn digest(&self, column: &'static str, s: String) -> Result<Digest> {
        Digest::parse(&s).map_err(|_| MetadataError::BadValue {
            path: self.path.clone(),
            column,
            value: s,
        })
    }

    /// Stores an image (replacing one with the same id, its layers too);
    /// returns it with `added` set.
    pub fn put_image(&self, image: &ImageRecord) -> Result<ImageRecord> {
        let added = now();
        self.write("put image", |tx| {
            let e = self.err("put image");
            tx.execute(
                "INSERT INTO images (id, manifest, media_type, created, size, added)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(id) DO UPDATE SET manifest = excluded.manifest,
                    media_type = excluded.media_type, created = excluded.created,
                    size = excluded.size",
                params![
                    image.id.as_str(),
                    image.manifest.as_str(),
                    image.media_type,
                    image.created,
                    i64::try_from(image.size).unwrap_or(i64::MAX),
                    added
                ],
            )
            .map_err(e)?;
            tx.execute(
                "DELETE FROM image_layers WHERE image_id = ?1",
                [image.id.as_str()],
            )
            .map_err(self.err("put image layers"))?;
            for (i, l) in image.layers.iter().enumerate() {
                tx.execute(
                    "INSERT INTO image_layers (image_id, position, diff_id, blob, media_type, size)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        image.id.as_str(),
                        i64::try_from(i).unwrap_or(i64::MAX),
                        l.diff_id.as_str(),
                        l.blob.as_str(),
                        l.media_type,
                        i64::try_from(l.size).unwrap_or(i64::MAX)
                    ],
                )
                .map_err(self.err("put image layers"))?;
            }
            Ok(())
        })?;
        self.image(&image.id)?
            .ok_or_else(|| MetadataError::NoSuchImage {
                image: image.id.to_string(),
            })
    }

    /// One image by id.
    pub fn image(&self, id: &Digest) -> Result<Option<ImageRecord>> {
        self.read(|c| {
            let row = c
                .query_row(
                    "SELECT id, manifest, media_type, created, size, added FROM images WHERE id = ?1",
                    [id.as_str()],
                    image_row,
                )
                .optional()
                .map_err(self.err("read image"))?;
            row.map(|r| self.image_from(c, r)).transpose()
        })
    }

    /// Every image, oldest first.
    pub fn images(&self) -> Result<Vec<ImageRecord>> {
        self.read(|c| {
            let mut stmt = c
                .prepare("SELECT id, manifest, media_type, created, size, added FROM images ORDER BY added, id")
                .map_err(self.err("list images"))?;
            let rows = stmt
                .query_map([], image_row)
                .map_err(self.err("list images"))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(self.err("list images"))?;
            rows.into_iter().map(|r| self.image_from(c, r)).collect()
        })
    }

    fn image_from(&self, c: &Connection, r: RawImage) -> Result<ImageRecord> {
        let mut stmt = c
            .prepare("SELECT diff_id, blob, media_type, size FROM image_layers WHERE image_id = ?1 ORDER BY position")
            .map_err(self.err("read layers"))?;
        let raw = stmt
            .query_map([&r.id], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, i64>(3)?,
                ))
            })
            .map_err(self.err("read layers"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err("read layers"))?;
        let layers = raw
            .into_iter()
            .map(|(diff_id, blob, media_type, size)| {
                Ok(LayerRecord {
                    diff_id: self.digest("image_layers.diff_id", diff_id)?,
                    blob: self.digest("image_layers.blob", blob)?,
                    media_type,
                    size: u64::try_from(size).unwrap_or(0),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ImageRecord {
            id: self.digest("images.id", r.id)?,
            manifest: self.digest("images.manifest", r.manifest)?,
            media_type: r.media_type,
            created: r.created,
            size: u64::try_from(r.size).unwrap_or(0),
            added: r.added,
            layers,
        })
    }

    /// Image ids starting with `prefix` (with or without `sha256:`), for
    /// docker's short ids.
    pub fn image_ids_with_prefix(&self, prefix: &str) -> Result<Vec<Digest>> {
        let prefix = prefix.strip_prefix("sha256:").unwrap_or(prefix);
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(Vec::new());
        }
        let pattern = format!("sha256:{}%", prefix.to_ascii_lowercase());
        let ids = self.read(|c| {
            let mut stmt = c
                .prepare("SELECT id FROM images WHERE id LIKE ?1 ORDER BY id")
                .map_err(self.err("find image"))?;
            let ids = stmt
                .query_map([pattern], |r| r.get::<_, String>(0))
                .map_err(self.err("find image"))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(self.err("find image"));
            ids
        })?;
        ids.into_iter()
            .map(|s| self.digest("images.id", s))
            .collect()
    }

    /// Deletes an image with its layers and every name pointing at it;
    /// returns the names removed. Whether it may be deleted (containers,
    /// other tags) is for the caller to decide.
    pub fn delete_image(&self, id: &Digest) -> Result<Vec<RefRecord>> {
        let refs = self.refs_of(id)?;
        self.write("delete image", |tx| {
            let n = tx
                .execute("DELETE FROM images WHERE id = ?1", [id.as_str()])
                .map_err(self.err("delete image"))?;
            if n == 0 {
                return Err(MetadataError::NoSuchImage {
                    image: id.to_string(),
                });
            }
            Ok(())
        })?;
        Ok(refs)
    }

    /// Points a tag (`repo:tag`) or digest reference (`repo@digest`) at an
    /// image; returns what it pointed at before, if anything. `target` is
    /// the digest the name resolved to (for a digest reference, its digest).
    pub fn set_ref(
        &self,
        reference: &Reference,
        image_id: &Digest,
        target: &Digest,
        target_media_type: &str,
    ) -> Result<Option<RefRecord>> {
        let key = ref_key(reference)?;
        let previous = self.get_ref(reference)?;
        self.write("set reference", |tx| {
            let exists: bool = tx
                .query_row("SELECT 1 FROM images WHERE id = ?1", [image_id.as_str()], |_| Ok(true))
                .optional()
                .map_err(self.err("set reference"))?
                .unwrap_or(false);
            if !exists {
                return Err(MetadataError::NoSuchImage {
                    image: image_id.to_string(),
                });
            }
            tx.execute(
                "INSERT INTO refs (name, repository, tag, image_id, target, target_media_type, updated)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id,
                    target = excluded.target, target_media_type = excluded.target_media_type,
                    updated = excluded.updated",
                params![
                    key,
                    reference.name(),
                    reference.tag(),
                    image_id.as_str(),
                    target.as_str(),
                    target_media_type,
                    now()
                ],
            )
            .map_err(self.err("set reference"))?;
            Ok(())
        })?;
        Ok(previous)
    }

    /// What a tag or digest reference points at.
    pub fn get_ref(&self, reference: &Reference) -> Result<Option<RefRecord>> {
        let key = ref_key(reference)?;
        let raw = self.read(|c| {
            c.query_row(
                "SELECT name, image_id, target, target_media_type, updated FROM refs WHERE name = ?1",
                [key],
                ref_row,
            )
            .optional()
            .map_err(self.err("read reference"))
        })?;
        raw.map(|r| self.ref_from(r)).transpose()
    }

    /// Removes a tag or digest reference (docker's untag).
    pub fn remove_ref(&self, reference: &Reference) -> Result<RefRecord> {
        let previous = self
            .get_ref(reference)?
            .ok_or_else(|| MetadataError::NoSuchReference {
                reference: reference.familiar(),
            })?;
        let key = ref_key(reference)?;
        self.write("remove reference", |tx| {
            tx.execute("DELETE FROM refs WHERE name = ?1", [key])
                .map_err(self.err("remove reference"))?;
            Ok(())
        })?;
        Ok(previous)
    }

    /// Every name, sorted.
    pub fn refs(&self) -> Result<Vec<RefRecord>> {
        self.query_refs(
            "SELECT name, image_id, target, target_media_type, updated FROM refs ORDER BY name",
            None,
        )
    }

    /// The names of one image, sorted.
    pub fn refs_of(&self, image_id: &Digest) -> Result<Vec<RefRecord>> {
        self.query_refs(
            "SELECT name, image_id, target, target_media_type, updated FROM refs WHERE image_id = ?1 ORDER BY name",
            Some(image_id.as_str()),
        )
    }

    fn query_refs(&self, sql: &str, arg: Option<&str>) -> Result<Vec<RefRecord>> {
        let raw = self.read(|c| {
            let mut stmt = c.prepare(sql).map_err(self.err("list references"))?;
            let rows = match arg {
                Some(a) => stmt.query_map([a], ref_row),
                None => stmt.query_map([], ref_row),
            }
            .map_err(self.err("list references"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err("list references"));
            rows
        })?;
        raw.into_iter().map(|r| self.ref_from(r)).collect()
    }

    fn ref_from(&self, r: RawRef) -> Result<RefRecord> {
        let reference =
            Reference::parse_normalized(&r.name).map_err(|_| MetadataError::BadValue {
                path: self.path.clone(),
                column: "refs.name",
                value: r.name.clone(),
            })?;
        Ok(RefRecord {
            reference,
            image_id: self.digest("refs.image_id", r.image_id)?,
            target: self.digest("refs.target", r.target)?,
            target_media_type: r.target_media_type,
            updated: r.updated,
        })
    }

    /// Images without any tag (digest references do not count), as docker's
    /// `dangling=true` filter lists them.
    pub fn dangling_images(&self) -> Result<Vec<Digest>> {
        let ids = self.read(|c| {
            let mut stmt = c
                .prepare(
                    "SELECT id FROM images WHERE id NOT IN
                       (SELECT image_id FROM refs WHERE tag IS NOT NULL) ORDER BY id",
                )
                .map_err(self.err("list dangling images"))?;
            let ids = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(self.err("list dangling images"))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(self.err("list dangling images"));
            ids
        })?;
        ids.into_iter()
            .map(|s| self.digest("images.id", s))
            .collect()
    }

    /// Images that have the layer `diff_id`.
    pub fn images_with_layer(&self, diff_id: &Digest) -> Result<Vec<Digest>> {
        let ids = self.read(|c| {
            let mut stmt = c
                .prepare("SELECT DISTINCT image_id FROM image_layers WHERE diff_id = ?1 ORDER BY image_id")
                .map_err(self.err("find layer"))?;
            let ids = stmt
                .query_map([diff_id.as_str()], |r| r.get::<_, String>(0))
                .map_err(self.err("find layer"))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(self.err("find layer"));
            ids
        })?;
        ids.into_iter()
            .map(|s| self.digest("image_layers.image_id", s))
            .collect()
    }

    /// Starts a lease owned by this process: content added to it survives garbage collection
    /// until [`Metadata::delete_lease`], or until a later run finds this process dead
    /// ([`crate::ImageStore::recover`]). Add a digest *before* committing it.
    pub fn create_lease(&self, id: &str) -> Result<()> {
        let owner = Owner::current().map(Owner::to_string).unwrap_or_default();
        self.write("create lease", |tx| {
            let n = tx
                .execute(
                    "INSERT INTO leases (id, created, owner) VALUES (?1, ?2, ?3)
                     ON CONFLICT(id) DO NOTHING",
                    params![id, now(), owner],
                )
                .map_err(self.err("create lease"))?;
            if n == 0 {
                return Err(MetadataError::LeaseExists { lease: id.into() });
            }
            Ok(())
        })
    }

    pub fn lease_add(&self, id: &str, digest: &Digest) -> Result<()> {
        self.lease_insert(
            id,
            "INSERT OR IGNORE INTO lease_content (lease, digest) VALUES (?1, ?2)",
            digest.as_str(),
        )
    }

    /// Records that the lease writes the ingest `reference`, so that the ingest is discarded
    /// with the lease when its owner dies. Add it *before* opening the writer.
    pub fn lease_add_ingest(&self, id: &str, reference: &str) -> Result<()> {
        self.lease_insert(
            id,
            "INSERT OR IGNORE INTO lease_ingests (lease, reference) VALUES (?1, ?2)",
            reference,
        )
    }

    fn lease_insert(&self, id: &str, sql: &str, value: &str) -> Result<()> {
        self.write("add to lease", |tx| {
            let found: Option<i64> = tx
                .query_row("SELECT 1 FROM leases WHERE id = ?1", [id], |r| r.get(0))
                .optional()
                .map_err(self.err("add to lease"))?;
            if found.is_none() {
                return Err(MetadataError::NoSuchLease { lease: id.into() });
            }
            tx.execute(sql, params![id, value])
                .map_err(self.err("add to lease"))?;
            Ok(())
        })
    }

    /// Every lease with its owner.
    pub fn lease_records(&self) -> Result<Vec<LeaseRecord>> {
        self.read(|c| {
            let mut stmt = c
                .prepare("SELECT id, created, owner FROM leases ORDER BY id")
                .map_err(self.err("list leases"))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(LeaseRecord {
                        id: r.get(0)?,
                        created: r.get(1)?,
                        owner: r.get(2)?,
                    })
                })
                .map_err(self.err("list leases"))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(self.err("list leases"));
            rows
        })
    }

    /// The ingests lease `id` writes (or wrote).
    pub fn lease_ingests(&self, id: &str) -> Result<Vec<String>> {
        self.read(|c| {
            let mut stmt = c
                .prepare("SELECT reference FROM lease_ingests WHERE lease = ?1 ORDER BY reference")
                .map_err(self.err("list lease ingests"))?;
            let rows = stmt
                .query_map([id], |r| r.get(0))
                .map_err(self.err("list lease ingests"))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(self.err("list lease ingests"));
            rows
        })
    }

    pub fn delete_lease(&self, id: &str) -> Result<()> {
        self.write("delete lease", |tx| {
            let n = tx
                .execute("DELETE FROM leases WHERE id = ?1", [id])
                .map_err(self.err("delete lease"))?;
            if n == 0 {
                return Err(MetadataError::NoSuchLease { lease: id.into() });
            }
            Ok(())
        })
    }

    /// Lease ids with their creation times (unix seconds).
    pub fn leases(&self) -> Result<Vec<(String, i64)>> {
        self.read(|c| {
            let mut stmt = c
                .prepare("SELECT id, created FROM leases ORDER BY id")
                .map_err(self.err("list leases"))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(self.err("list leases"))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(self.err("list leases"));
            rows
        })
    }

    /// Every digest the metadata keeps alive: ref targets, image manifests,
    /// configs and layer blobs, leased content.
    pub fn gc_roots(&self) -> Result<HashSet<Digest>> {
        self.read(|c| self.roots_in(c))
    }

    /// Runs `f` with the roots while holding the database, so that no lease
    /// or image is added until `f` returns (garbage collection sweeps
    /// inside). `f` must not call back into this `Metadata`.
    pub(crate) fn with_roots<T>(&self, f: impl FnOnce(HashSet<Digest>) -> T) -> Result<T> {
        self.read(|c| Ok(f(self.roots_in(c)?)))
    }

    fn roots_in(&self, c: &Connection) -> Result<HashSet<Digest>> {
        let mut stmt = c
            .prepare(
                "SELECT target FROM refs
                 UNION SELECT manifest FROM images
                 UNION SELECT id FROM images
                 UNION SELECT blob FROM image_layers
                 UNION SELECT digest FROM lease_content",
            )
            .map_err(self.err("read gc roots"))?;
        let raw = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(self.err("read gc roots"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err("read gc roots"))?;
        raw.into_iter().map(|s| self.digest("gc root", s)).collect()
    }
}

/// The `refs.name` key: the full reference, tag xor digest.
fn ref_key(reference: &Reference) -> Result<String> {
    match (reference.tag(), reference.digest()) {
        (Some(_), None) | (None, Some(_)) => Ok(reference.to_string()),
        _ => Err(MetadataError::BadReference {
            reference: reference.familiar(),
        }),
    }
}

struct RawImage {
    id: String,
    manifest: String,
    media_type: String,
    created: Option<String>,
    size: i64,
    added: i64,
}

fn image_row(r: &Row<'_>) -> rusqlite::Result<RawImage> {
    Ok(RawImage {
        id: r.get(0)?,
        manifest: r.get(1)?,
        media_type: r.get(2)?,
        created: r.get(3)?,
        size: r.get(4)?,
        added: r.get(5)?,
    })
}

struct RawRef {
    name: String,
    image_id: String,
    target: String,
    target_media_type: String,
    updated: i64,
}

fn ref_row(r: &Row<'_>) -> rusqlite::Result<RawRef> {
    Ok(RawRef {
        name: r.get(0)?,
        image_id: r.get(1)?,
        target: r.get(2)?,
        target_media_type: r.get(3)?,
        updated: r.get(4)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::manifest::media_types as mt;

    fn image(n: u8) -> ImageRecord {
        ImageRecord {
            id: Digest::of(&[b'c', n]),
            manifest: Digest::of(&[b'm', n]),
            media_type: mt::OCI_MANIFEST.into(),
            created: Some("2024-01-01T00:00:00Z".into()),
            size: 100 + u64::from(n),
            added: 0,
            layers: vec![
                LayerRecord {
                    diff_id: Digest::of(b"diff-base"),
                    blob: Digest::of(b"blob-base"),
                    media_type: mt::OCI_LAYER_GZIP.into(),
                    size: 10,
                },
                LayerRecord {
                    diff_id: Digest::of(&[b'd', n]),
                    blob: Digest::of(&[b'b', n]),
                    media_type: mt::OCI_LAYER_GZIP.into(),
                    size: 20,
                },
            ],
        }
    }

    fn r(s: &str) -> Reference {
        Reference::parse_docker_ref(s).unwrap()
    }

    fn db() -> (tempfile::TempDir, Metadata) {
        let dir = tempfile::tempdir().unwrap();
        let m = Metadata::open(dir.path().join("meta").join("metadata.db")).unwrap();
        (dir, m)
    }

    #[test]
    fn images_tags_and_digest_refs() {
        let (_t, m) = db();
        let a = m.put_image(&image(1)).unwrap();
        assert!(a.added > 0);
        assert_eq!(m.image(&a.id).unwrap().as_ref(), Some(&a));
        assert_eq!(a.layers.len(), 2);
        let b = m.put_image(&image(2)).unwrap();
        assert_eq!(m.images().unwrap().len(), 2);

        let index = Digest::of(b"index");
        assert_eq!(
            m.set_ref(&r("busybox"), &a.id, &index, mt::OCI_INDEX)
                .unwrap(),
            None
        );
        m.set_ref(
            &r("localhost:5000/x:1"),
            &a.id,
            &a.manifest,
            mt::OCI_MANIFEST,
        )
        .unwrap();
        let by_digest = r("busybox").with_digest(index.clone());
        m.set_ref(&by_digest, &a.id, &index, mt::OCI_INDEX).unwrap();
        let got = m
            .get_ref(&r("docker.io/library/busybox:latest"))
            .unwrap()
            .unwrap();
        assert_eq!(got.image_id, a.id);
        assert_eq!(got.target, index);
        assert_eq!(got.reference.familiar(), "busybox:latest");
        let names: Vec<String> = m
            .refs_of(&a.id)
            .unwrap()
            .iter()
            .map(|x| x.reference.familiar())
            .collect();
        assert_eq!(
            names,
            vec![
                "busybox:latest".to_owned(),
                format!("busybox@{index}"),
                "localhost:5000/x:1".into()
            ]
        );
        assert_eq!(m.dangling_images().unwrap(), vec![b.id.clone()]);

        // Retagging moves the tag and reports where it was.
        let prev = m
            .set_ref(&r("busybox"), &b.id, &b.manifest, mt::OCI_MANIFEST)
            .unwrap()
            .unwrap();
        assert_eq!(prev.image_id, a.id);
        assert_eq!(m.refs_of(&b.id).unwrap().len(), 1);
        assert!(m.dangling_images().unwrap().is_empty());

        // Untag.
        m.remove_ref(&r("localhost:5000/x:1")).unwrap();
        let e = m.remove_ref(&r("localhost:5000/x:1")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.to_string(), "reference localhost:5000/x:1 does not exist");
        // a only has a digest reference now: dangling.
        assert_eq!(m.dangling_images().unwrap(), vec![a.id.clone()]);

        // Names need an existing image and exactly a tag or a digest.
        let ghost = Digest::of(b"ghost");
        assert_eq!(
            m.set_ref(&r("ghost"), &ghost, &ghost, mt::OCI_MANIFEST)
                .unwrap_err()
                .kind(),
            ErrorKind::NotFound
        );
        let bare = Reference::parse_normalized("busybox").unwrap();
        assert_eq!(
            m.get_ref(&bare).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );

        assert_eq!(
            m.images_with_layer(&Digest::of(b"diff-base"))
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            m.images_with_layer(&Digest::of(&[b'd', 1])).unwrap(),
            vec![a.id.clone()]
        );
        let short = &a.id.hex()[..12];
        assert_eq!(m.image_ids_with_prefix(short).unwrap(), vec![a.id.clone()]);
        assert_eq!(
            m.image_ids_with_prefix(&format!("sha256:{short}")).unwrap(),
            vec![a.id.clone()]
        );
        assert!(m.image_ids_with_prefix("zz").unwrap().is_empty());
        assert!(m.image_ids_with_prefix("%").unwrap().is_empty());

        // Deleting an image takes its names and layers with it.
        let removed = m.delete_image(&a.id).unwrap();
        assert_eq!(removed.len(), 1);
        assert!(m.image(&a.id).unwrap().is_none());
        assert!(m.get_ref(&by_digest).unwrap().is_none());
        assert_eq!(
            m.images_with_layer(&Digest::of(b"diff-base")).unwrap(),
            vec![b.id.clone()]
        );
        assert_eq!(
            m.delete_image(&a.id).unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }

    #[test]
    fn survives_reopen_and_refuses_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metadata.db");
        let a = {
            let m = Metadata::open(&path).unwrap();
            let a = m.put_image(&image(1)).unwrap();
            m.set_ref(&r("a:1"), &a.id, &a.manifest, mt::OCI_MANIFEST)
                .unwrap();
            a
        };
        let m = Metadata::open(&path).unwrap();
        assert_eq!(m.image(&a.id).unwrap(), Some(a.clone()));
        assert_eq!(m.refs().unwrap().len(), 1);
        drop(m);
        let c = Connection::open(&path).unwrap();
        c.execute("INSERT INTO schema_version (version) VALUES (99)", [])
            .unwrap();
        drop(c);
        let e = Metadata::open(&path).unwrap_err();
        assert!(
            matches!(e, MetadataError::SchemaTooNew { found: 99, .. }),
            "{e}"
        );
    }

    #[test]
    fn version_1_gains_lease_owners_and_ingests() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metadata.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(
                "CREATE TABLE schema_version (version INTEGER NOT NULL);
                 INSERT INTO schema_version (version) VALUES (1);
                 CREATE TABLE leases (id TEXT PRIMARY KEY, created INTEGER NOT NULL);
                 INSERT INTO leases (id, created) VALUES ('old', 5);",
            )
            .unwrap();
            // The other tables of version 1 (leases, made above, keeps its old form).
            c.execute_batch(SCHEMA).unwrap();
        }
        let m = Metadata::open(&path).unwrap();
        let old = LeaseRecord {
            id: "old".into(),
            created: 5,
            owner: String::new(),
        };
        assert_eq!(m.lease_records().unwrap(), vec![old]);
        m.lease_add_ingest("old", "layer-x").unwrap();
        m.create_lease("new").unwrap();
        let owner = &m.lease_records().unwrap()[0].owner;
        assert_eq!(owner, &crate::Owner::current().unwrap().to_string());
        assert_eq!(m.lease_ingests("old").unwrap(), ["layer-x"]);
        m.delete_lease("old").unwrap();
        assert!(m.lease_ingests("old").unwrap().is_empty(), "cascade");
        drop(m);
        // Opened again: version 2, nothing migrated twice.
        let m = Metadata::open(&path).unwrap();
        assert_eq!(m.lease_records().unwrap().len(), 1);
    }

    #[test]
    fn leases_and_roots() {
        let (_t, m) = db();
        let a = m.put_image(&image(1)).unwrap();
        let index = Digest::of(b"index");
        m.set_ref(&r("busybox"), &a.id, &index, mt::OCI_INDEX)
            .unwrap();
        m.create_lease("pull-1").unwrap();
        assert_eq!(
            m.create_lease("pull-1").unwrap_err().kind(),
            ErrorKind::Conflict
        );
        let pending = Digest::of(b"pending");
        m.lease_add("pull-1", &pending).unwrap();
        m.lease_add("pull-1", &pending).unwrap();
        assert_eq!(
            m.lease_add("nope", &pending).unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(m.leases().unwrap().len(), 1);
        let roots = m.gc_roots().unwrap();
        let mut want: HashSet<Digest> =
            [index, a.id.clone(), a.manifest.clone(), pending.clone()].into();
        want.extend(a.layers.iter().map(|l| l.blob.clone()));
        assert_eq!(roots, want);
        m.delete_lease("pull-1").unwrap();
        assert!(!m.gc_roots().unwrap().contains(&pending));
        assert_eq!(
            m.delete_lease("pull-1").unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }

    #[test]
    fn concurrent_writers() {
        let (_t, m) = db();
        let m = std::sync::Arc::new(m);
        let threads: Vec<_> = (0..4u8)
            .map(|n| {
                let m = m.clone();
                std::thread::spawn(move || {
                    let img = m.put_image(&image(n)).unwrap();
                    for t in 0..10 {
                        m.set_ref(
                            &r(&format!("app:{n}-{t}")),
                            &img.id,
                            &img.manifest,
                            mt::OCI_MANIFEST,
                        )
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(m.images().unwrap().len(), 4);
        assert_eq!(m.refs().unwrap().len(), 40);
    }
}
