//! What a pull reports while it runs ([`Progress`]), and [`Totals`], which sums the reports into
//! the figures of one progress bar.

use super::manifest::Platform;

/// One report of a running pull, in order: `Resolved` once, then for each blob (the config
/// first, then the layers bottom to top) `Blob` at its start and as bytes arrive, and
/// `BlobDone` once it is verified and in the layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// The manifest is known and checked: what will be downloaded.
    Resolved {
        manifest_digest: String,
        platform: Platform,
        layers: usize,
        /// Bytes of the config and layers together.
        total_bytes: u64,
    },
    /// Bytes of one blob received so far.
    Blob {
        kind: BlobKind,
        digest: String,
        done: u64,
        total: u64,
    },
    /// A blob complete: its length and sha256 checked, and in the layout.
    BlobDone {
        kind: BlobKind,
        digest: String,
        size: u64,
    },
}

/// Which blob a [`Progress::Blob`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobKind {
    Config,
    /// The n-th layer (0 = the bottom one).
    Layer(usize),
}

/// Overall bytes done and to do, from the stream of reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub total: u64,
    /// Bytes of the blobs already complete.
    finished: u64,
    /// Bytes so far of the blob being downloaded.
    current: u64,
    /// Layers complete, and how many there are.
    pub layers_done: usize,
    pub layers: usize,
}

impl Totals {
    pub fn update(&mut self, event: &Progress) {
        match event {
            Progress::Resolved {
                layers,
                total_bytes,
                ..
            } => {
                *self = Totals {
                    total: *total_bytes,
                    layers: *layers,
                    ..Totals::default()
                };
            }
            Progress::Blob { done, .. } => self.current = *done,
            Progress::BlobDone { kind, size, .. } => {
                self.finished += size;
                self.current = 0;
                if matches!(kind, BlobKind::Layer(_)) {
                    self.layers_done += 1;
                }
            }
        }
    }

    /// Bytes done over all blobs.
    pub fn done(&self) -> u64 {
        self.finished + self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_follow_the_reports() {
        let mut t = Totals::default();
        t.update(&Progress::Resolved {
            manifest_digest: "d".into(),
            platform: Platform::host(),
            layers: 2,
            total_bytes: 110,
        });
        let blob = |kind, done, total| Progress::Blob {
            kind,
            digest: "x".into(),
            done,
            total,
        };
        let done = |kind, size| Progress::BlobDone {
            kind,
            digest: "x".into(),
            size,
        };
        t.update(&done(BlobKind::Config, 10));
        t.update(&blob(BlobKind::Layer(0), 0, 50));
        t.update(&blob(BlobKind::Layer(0), 30, 50));
        assert_eq!((t.done(), t.layers_done), (40, 0));
        t.update(&blob(BlobKind::Layer(0), 50, 50));
        assert_eq!((t.done(), t.layers_done), (60, 0), "not verified yet");
        t.update(&done(BlobKind::Layer(0), 50));
        t.update(&blob(BlobKind::Layer(1), 50, 50));
        t.update(&done(BlobKind::Layer(1), 50));
        assert_eq!(
            (t.done(), t.total, t.layers_done, t.layers),
            (110, 110, 2, 2)
        );
    }
}
