//! [`Hooked`]: one forwarding [`ObjectStore`] that every wrapper is built on. A wrapper says
//! what it does around a request ([`Hooks`]: refuse or hold it first, make a write durable
//! after, observe the outcome) and forwards nothing by hand.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};

/// An object-store request, as billed and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// A whole-object PUT.
    Put,
    /// The start of a multipart upload.
    CreateMultipart,
    /// One part of a multipart upload.
    PutPart,
    /// The completion of a multipart upload.
    CompleteMultipart,
    /// A whole-object GET.
    Get,
    /// A ranged GET (one per range of a multi-range read).
    GetRange,
    /// A HEAD.
    Head,
    /// A batch of deletes.
    Delete,
    /// A listing.
    List,
    /// A server-side copy.
    Copy,
}

impl Op {
    /// The name metrics use (`put`, `get_range`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Op::Put => "put",
            Op::CreateMultipart => "create_multipart",
            Op::PutPart => "put_part",
            Op::CompleteMultipart => "complete_multipart",
            Op::Get => "get",
            Op::GetRange => "get_range",
            Op::Head => "head",
            Op::Delete => "delete",
            Op::List => "list",
            Op::Copy => "copy",
        }
    }

    /// Whether the request writes (or starts writing) an object.
    pub fn writes(self) -> bool {
        matches!(
            self,
            Op::Put | Op::CreateMultipart | Op::PutPart | Op::CompleteMultipart | Op::Copy
        )
    }

    /// Whether the request reads an object's bytes or metadata.
    pub fn reads(self) -> bool {
        matches!(self, Op::Get | Op::GetRange | Op::Head)
    }
}

/// How a request ended, for [`Hooks::observed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The request.
    pub op: Op,
    /// Whether it succeeded (a request whose result is a stream counts as sent).
    pub ok: bool,
    /// Bytes sent (writes) or received (reads).
    pub bytes: u64,
    /// How long it took; `None` where the store answers with a stream or the caller drives it.
    pub elapsed: Option<Duration>,
}

/// What a wrapper does around each request. Every method has a default that does nothing.
#[async_trait]
pub trait Hooks: Send + Sync + fmt::Debug + 'static {
    /// Runs before `op` on `location` reaches the store; an error fails the request there.
    async fn before(&self, op: Op, location: &Path) -> object_store::Result<()> {
        let _ = (op, location);
        Ok(())
    }

    /// Runs after a PUT or a multipart upload of `location` succeeded, before the caller hears
    /// of it (a local directory syncs the file here).
    async fn written(&self, location: &Path) -> object_store::Result<()> {
        let _ = location;
        Ok(())
    }

    /// Sees how every request ended.
    fn observed(&self, outcome: Outcome) {
        let _ = outcome;
    }
}

/// `inner` with `hooks` around every request.
#[derive(Debug)]
pub struct Hooked<H> {
    inner: Arc<dyn ObjectStore>,
    hooks: Arc<H>,
}

impl<H: Hooks> Hooked<H> {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ObjectStore>, hooks: H) -> Self {
        Self {
            inner,
            hooks: Arc::new(hooks),
        }
    }

    /// The hooks, to read or steer them (tests).
    pub fn hooks(&self) -> &H {
        &self.hooks
    }

    async fn timed<T>(
        &self,
        op: Op,
        location: &Path,
        bytes: impl FnOnce(&T) -> u64,
        run: impl Future<Output = object_store::Result<T>>,
    ) -> object_store::Result<T> {
        self.hooks.before(op, location).await?;
        let started = tokio::time::Instant::now();
        let r = run.await;
        self.hooks.observed(Outcome {
            op,
            ok: r.is_ok(),
            bytes: r.as_ref().map_or(0, bytes),
            elapsed: Some(started.elapsed()),
        });
        r
    }
}

impl<H> fmt::Display for Hooked<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hooked({})", self.inner)
    }
}

#[derive(Debug)]
struct HookedUpload<H> {
    inner: Box<dyn MultipartUpload>,
    hooks: Arc<H>,
    location: Path,
}

#[async_trait]
impl<H: Hooks> MultipartUpload for HookedUpload<H> {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        self.hooks.observed(Outcome {
            op: Op::PutPart,
            ok: true,
            bytes: data.content_length() as u64,
            elapsed: None,
        });
        self.inner.put_part(data)
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let op = Op::CompleteMultipart;
        self.hooks.before(op, &self.location).await?;
        let r = self.inner.complete().await;
        self.hooks.observed(Outcome {
            op,
            ok: r.is_ok(),
            bytes: 0,
            elapsed: None,
        });
        let r = r?;
        self.hooks.written(&self.location).await?;
        Ok(r)
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.inner.abort().await
    }
}

#[async_trait]
impl<H: Hooks> ObjectStore for Hooked<H> {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let len = payload.content_length() as u64;
        let r = self
            .timed(
                Op::Put,
                location,
                |_| len,
                self.inner.put_opts(location, payload, opts),
            )
            .await?;
        self.hooks.written(location).await?;
        Ok(r)
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let inner = self
            .timed(
                Op::CreateMultipart,
                location,
                |_| 0,
                self.inner.put_multipart_opts(location, opts),
            )
            .await?;
        Ok(Box::new(HookedUpload {
            inner,
            hooks: self.hooks.clone(),
            location: location.clone(),
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let op = if options.head {
            Op::Head
        } else if options.range.is_some() {
            Op::GetRange
        } else {
            Op::Get
        };
        self.timed(
            op,
            location,
            |g: &GetResult| g.range.end - g.range.start,
            self.inner.get_opts(location, options),
        )
        .await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        for _ in 1..ranges.len() {
            self.hooks.before(Op::GetRange, location).await?;
        }
        self.timed(
            Op::GetRange,
            location,
            |parts: &Vec<Bytes>| parts.iter().map(|b| b.len() as u64).sum(),
            self.inner.get_ranges(location, ranges),
        )
        .await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.hooks.observed(Outcome {
            op: Op::Delete,
            ok: true,
            bytes: 0,
            elapsed: None,
        });
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.hooks.observed(Outcome {
            op: Op::List,
            ok: true,
            bytes: 0,
            elapsed: None,
        });
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.hooks.observed(Outcome {
            op: Op::List,
            ok: true,
            bytes: 0,
            elapsed: None,
        });
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let root = Path::default();
        self.timed(
            Op::List,
            prefix.unwrap_or(&root),
            |_| 0,
            self.inner.list_with_delimiter(prefix),
        )
        .await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.timed(Op::Copy, to, |_| 0, self.inner.copy_opts(from, to, options))
            .await?;
        self.hooks.written(to).await
    }
}
