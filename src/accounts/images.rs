//! Profile images: an upload is decoded (with size and dimension limits, so a crafted file
//! cannot exhaust memory), cropped and resized, and re-encoded — which drops every bit of
//! metadata — before it is stored in the database, where every instance can serve it.
//!
//! Memory is bounded by construction: the header is read first and an image of more than
//! [`MAX_PIXELS`] is refused before anything is decoded; the decoder may allocate at most
//! [`MAX_DECODER_ALLOC`]; and at most [`WORKERS`] images are processed at once
//! ([`Workers`]), so the worst case is about `WORKERS × MAX_DECODER_ALLOC`.

use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use image::{ImageFormat, ImageReader, Limits};

/// Largest upload accepted.
pub const MAX_BYTES: usize = 5 * 1024 * 1024;
const MAX_DIMENSION: u32 = 8000;
/// Largest image accepted, in pixels (4096 × 4096: more than any phone camera's default).
pub const MAX_PIXELS: u64 = 4096 * 4096;
/// What the decoder may allocate: the RGBA buffer of the largest image, plus slack.
pub const MAX_DECODER_ALLOC: u64 = MAX_PIXELS * 4 + 8 * 1024 * 1024;
/// Images processed at once, per instance; more uploads wait for a turn.
pub const WORKERS: usize = 2;
/// How long an upload waits for a turn before it is refused with 503.
const WAIT: Duration = Duration::from_secs(10);

/// Which image of the profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Avatar,
    Cover,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "avatar" => Some(Self::Avatar),
            "cover" => Some(Self::Cover),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Avatar => "avatar",
            Self::Cover => "cover",
        }
    }

    fn size(self) -> (u32, u32) {
        match self {
            Self::Avatar => (256, 256),
            Self::Cover => (1500, 500),
        }
    }
}

/// Why an upload was refused; the message is shown next to the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("Choose an image file.")]
    Empty,
    #[error("The image must be at most 5 MB.")]
    TooLarge,
    #[error("This file is not an image we can read. Use PNG, JPEG, WebP or GIF.")]
    NotAnImage,
    #[error("The image is too large: at most {} megapixels, {MAX_DIMENSION} pixels a side.", MAX_PIXELS / 1_000_000)]
    TooManyPixels,
    #[error("Too many images are being processed right now. Try again in a moment.")]
    Busy,
}

/// Uploads that may wait for a turn at once; more are refused at once (each holds its
/// body, up to [`MAX_BYTES`], while it waits).
pub const WAITING: usize = 8;

/// The bounded pool images are processed on: [`WORKERS`] at a time, on the blocking pool,
/// with at most [`WAITING`] more waiting.
#[derive(Debug, Clone)]
pub struct Workers {
    /// One permit per image being processed.
    running: Arc<tokio::sync::Semaphore>,
    /// How long an upload waits for a turn.
    wait: Duration,
    /// One permit per upload processed or waiting.
    in_line: Arc<tokio::sync::Semaphore>,
}

impl Default for Workers {
    fn default() -> Self {
        Self {
            running: Arc::new(tokio::sync::Semaphore::new(WORKERS)),
            wait: WAIT,
            in_line: Arc::new(tokio::sync::Semaphore::new(WORKERS + WAITING)),
        }
    }
}

impl Workers {
    /// [`process`] off the async workers, waiting at most 10 seconds for a turn.
    pub async fn process(&self, bytes: Vec<u8>, kind: Kind) -> Result<Processed, ImageError> {
        let _in_line = self.in_line.clone().try_acquire_owned().map_err(|_| ImageError::Busy)?;
        let permit = tokio::time::timeout(self.wait, self.running.clone().acquire_owned())
            .await
            .map_err(|_| ImageError::Busy)?
            .map_err(|_| ImageError::Busy)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            process(&bytes, kind)
        })
        .await
        .map_err(|_| ImageError::NotAnImage)?
    }
}

/// A processed image, ready to store.
#[derive(Debug, Clone)]
pub struct Processed {
    pub content_type: &'static str,
    pub data: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// The user's images: kind and id.
pub async fn of_user(
    db: &sea_orm::DatabaseConnection,
    user: uuid::Uuid,
) -> Result<Vec<(String, uuid::Uuid)>, sea_orm::DbErr> {
    super::repo::images_of(db, user).await
}

/// An image by its id.
pub async fn find(
    db: &sea_orm::DatabaseConnection,
    id: uuid::Uuid,
) -> Result<Option<entity::user_image::Model>, sea_orm::DbErr> {
    super::repo::find_image(db, id).await
}

/// Stores a processed image of `user` in one transaction: the new image replaces the one
/// of its kind, and an avatar becomes the profile's `picture` (`{issuer}/images/{id}`),
/// so the claim never points at an image that is gone. Returns the image's id.
pub async fn save(
    db: &sea_orm::DatabaseConnection,
    issuer_id: &str,
    user: uuid::Uuid,
    kind: Kind,
    processed: Processed,
) -> Result<uuid::Uuid, sea_orm::DbErr> {
    let txn = crate::db::begin(db).await?;
    let id = super::repo::store_image(&txn, user, kind, processed).await?;
    if kind == Kind::Avatar {
        super::repo::set_picture(&txn, user, &format!("{issuer_id}/images/{id}")).await?;
    }
    txn.commit().await?;
    Ok(id)
}

/// Crops `img` to the shape of `w`×`h` (centred) and scales it to that size. Downscaling
/// averages areas in integer arithmetic over a view of the crop, so it needs no copy of
/// the source and no floating-point buffer (a filtered resize of a 12 MP image holds
/// ~70 MB of f32 samples); only a source smaller than the target is filtered.
fn fill(img: &image::DynamicImage, w: u32, h: u32) -> image::DynamicImage {
    use image::DynamicImage as D;
    use image::imageops;
    let (iw, ih) = (img.width(), img.height());
    // The largest centred region of the target's aspect ratio.
    let (cw, ch) = if u64::from(iw) * u64::from(h) > u64::from(ih) * u64::from(w) {
        (
            u32::try_from(u64::from(ih) * u64::from(w) / u64::from(h))
                .unwrap_or(iw)
                .max(1),
            ih,
        )
    } else {
        (
            iw,
            u32::try_from(u64::from(iw) * u64::from(h) / u64::from(w))
                .unwrap_or(ih)
                .max(1),
        )
    };
    let (x, y) = ((iw - cw) / 2, (ih - ch) / 2);
    if cw < w || ch < h {
        return img
            .crop_imm(x, y, cw, ch)
            .resize_exact(w, h, imageops::FilterType::Triangle);
    }
    match img {
        D::ImageRgb8(p) => D::from(imageops::thumbnail(&*imageops::crop_imm(p, x, y, cw, ch), w, h)),
        D::ImageRgba8(p) => D::from(imageops::thumbnail(&*imageops::crop_imm(p, x, y, cw, ch), w, h)),
        D::ImageLuma8(p) => D::from(imageops::thumbnail(&*imageops::crop_imm(p, x, y, cw, ch), w, h)),
        D::ImageLumaA8(p) => D::from(imageops::thumbnail(&*imageops::crop_imm(p, x, y, cw, ch), w, h)),
        // 16-bit and float sources: rare in uploads; converted first.
        other => {
            let p = other.to_rgba8();
            D::from(imageops::thumbnail(&*imageops::crop_imm(&p, x, y, cw, ch), w, h))
        }
    }
}

/// Decodes, crops to the kind's shape, resizes and re-encodes an upload (PNG for avatars,
/// JPEG for covers). CPU-bound: run it on the blocking pool.
pub fn process(bytes: &[u8], kind: Kind) -> Result<Processed, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    if bytes.len() > MAX_BYTES {
        return Err(ImageError::TooLarge);
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| ImageError::NotAnImage)?;
    if !matches!(
        reader.format(),
        Some(ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP | ImageFormat::Gif)
    ) {
        return Err(ImageError::NotAnImage);
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    limits.max_alloc = Some(MAX_DECODER_ALLOC);
    reader.limits(limits);
    // The header alone says how large the image is: refuse before decoding anything.
    let decoder = reader.into_decoder().map_err(|e| match e {
        image::ImageError::Limits(_) => ImageError::TooManyPixels,
        _ => ImageError::NotAnImage,
    })?;
    let (iw, ih) = image::ImageDecoder::dimensions(&decoder);
    if iw == 0 || ih == 0 {
        return Err(ImageError::NotAnImage);
    }
    // The decoded buffer (16-bit channels double it), plus the 8-bit copy `fill` may make.
    let buffer = image::ImageDecoder::total_bytes(&decoder);
    let eight_bit = u64::from(iw) * u64::from(ih) * 4;
    if u64::from(iw) * u64::from(ih) > MAX_PIXELS || buffer.saturating_add(eight_bit) > MAX_DECODER_ALLOC * 2 {
        return Err(ImageError::TooManyPixels);
    }
    let img = image::DynamicImage::from_decoder(decoder).map_err(|e| match e {
        image::ImageError::Limits(_) => ImageError::TooManyPixels,
        _ => ImageError::NotAnImage,
    })?;
    let (w, h) = kind.size();
    let resized = fill(&img, w, h);
    let mut out = Cursor::new(Vec::new());
    let content_type = match kind {
        Kind::Avatar => {
            resized
                .write_to(&mut out, ImageFormat::Png)
                .map_err(|_| ImageError::NotAnImage)?;
            "image/png"
        }
        Kind::Cover => {
            resized
                .to_rgb8()
                .write_to(&mut out, ImageFormat::Jpeg)
                .map_err(|_| ImageError::NotAnImage)?;
            "image/jpeg"
        }
    };
    Ok(Processed {
        content_type,
        data: out.into_inner(),
        width: w,
        height: h,
    })
}

#[cfg(test)]
#[path = "../../tests/fixtures/png_claiming.rs"]
mod fixture;

/// Counts this thread's heap allocations, so a test can see the peak memory of one call.
#[cfg(test)]
mod meter {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static NOW: Cell<isize> = const { Cell::new(0) };
        static PEAK: Cell<isize> = const { Cell::new(0) };
    }

    fn add(delta: isize) {
        let _ = NOW.try_with(|n| {
            let v = n.get() + delta;
            n.set(v);
            let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
        });
    }

    pub struct Meter;

    // SAFETY: every call is passed to `System` unchanged; only sizes are counted.
    unsafe impl GlobalAlloc for Meter {
        unsafe fn alloc(&self, l: Layout) -> *mut u8 {
            let p = unsafe { System.alloc(l) };
            if !p.is_null() {
                add(l.size().cast_signed());
            }
            p
        }
        unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
            let p = unsafe { System.alloc_zeroed(l) };
            if !p.is_null() {
                add(l.size().cast_signed());
            }
            p
        }
        unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
            unsafe { System.dealloc(p, l) };
            add(-l.size().cast_signed());
        }
        unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
            let q = unsafe { System.realloc(p, l, new) };
            if !q.is_null() {
                add(new.cast_signed() - l.size().cast_signed());
            }
            q
        }
    }

    #[global_allocator]
    static METER: Meter = Meter;

    /// Runs `f` and returns its result and the most it had allocated at once.
    pub fn peak<T>(f: impl FnOnce() -> T) -> (T, usize) {
        let start = NOW.with(Cell::get);
        PEAK.with(|p| p.set(start));
        let out = f();
        (out, (PEAK.with(Cell::get) - start).max(0).cast_unsigned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::fixture::{self, png_claiming as png_header};

    #[test]
    fn oversized_images_are_refused_before_decoding_and_normal_ones_stay_small() {
        let ((), _) = meter::peak(|| ());
        let (r, peak) = meter::peak(|| process(&png_header(8000, 8000), Kind::Avatar));
        assert_eq!(r.unwrap_err(), ImageError::TooManyPixels);
        assert!(
            ImageError::TooManyPixels.to_string().contains("at most 16 megapixels"),
            "{}",
            ImageError::TooManyPixels
        );
        assert!(
            peak < 1024 * 1024,
            "refused from the header alone, yet {peak} bytes allocated"
        );
        // 16 bits a channel: within the pixel bound, but twice the memory, and more.
        let deep = fixture::png_claiming_depth(4096, 4096, 16);
        assert_eq!(process(&deep, Kind::Avatar).unwrap_err(), ImageError::TooManyPixels);
        assert!(
            process(&fixture::png_claiming_depth(2000, 2000, 16), Kind::Avatar)
                .is_err_and(|e| e != ImageError::TooManyPixels)
        );
        // Wider than a side may be, even if few pixels.
        assert_eq!(
            process(&png_header(9000, 10), Kind::Avatar).unwrap_err(),
            ImageError::TooManyPixels
        );

        // A 12-megapixel photo: decoded (48 MB of RGBA), resized, re-encoded.
        let photo = png(4000, 3000);
        let (r, peak) = meter::peak(|| process(&photo, Kind::Cover));
        assert!(r.is_ok());
        assert!(peak < 80 * 1024 * 1024, "peak {peak} bytes for a 12 MP image");
        let (r, peak) = meter::peak(|| process(&png(800, 600), Kind::Avatar));
        assert!(r.is_ok());
        assert!(peak < 8 * 1024 * 1024, "peak {peak} bytes for an 800×600 avatar");
    }

    #[tokio::test]
    async fn at_most_two_images_are_processed_at_once() {
        let w = Workers {
            wait: Duration::from_millis(50),
            ..Workers::default()
        };
        let held: Vec<_> = (0..WORKERS)
            .map(|_| w.running.clone().try_acquire_owned().unwrap())
            .collect();
        let r = w.process(png(10, 10), Kind::Avatar).await;
        assert_eq!(
            r.unwrap_err(),
            ImageError::Busy,
            "a third upload waits, then is told to retry"
        );
        // When WORKERS are busy and WAITING wait, the next is refused at once.
        let line: Vec<_> = (0..WORKERS + WAITING)
            .map(|_| w.in_line.clone().try_acquire_owned().unwrap())
            .collect();
        let started = std::time::Instant::now();
        assert_eq!(
            w.process(png(10, 10), Kind::Avatar).await.unwrap_err(),
            ImageError::Busy
        );
        assert!(started.elapsed() < Duration::from_millis(40), "refused without waiting");
        drop((held, line));
        assert!(w.process(png(10, 10), Kind::Avatar).await.is_ok());
    }

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbaImage::from_pixel(w, h, image::Rgba([200, 30, 30, 255]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn images_are_resized_reencoded_and_garbage_refused() {
        let p = process(&png(800, 600), Kind::Avatar).unwrap();
        assert_eq!((p.width, p.height, p.content_type), (256, 256, "image/png"));
        let back = image::load_from_memory(&p.data).unwrap();
        assert_eq!((back.width(), back.height()), (256, 256));
        let c = process(&png(300, 300), Kind::Cover).unwrap();
        assert_eq!(c.content_type, "image/jpeg");
        assert_eq!(process(b"", Kind::Avatar).unwrap_err(), ImageError::Empty);
        assert_eq!(
            process(b"<svg xmlns='http://www.w3.org/2000/svg'/>", Kind::Avatar).unwrap_err(),
            ImageError::NotAnImage
        );
        assert_eq!(
            process(&vec![0u8; MAX_BYTES + 1], Kind::Avatar).unwrap_err(),
            ImageError::TooLarge
        );
        let mut truncated = png(100, 100);
        truncated.truncate(60);
        assert_eq!(process(&truncated, Kind::Avatar).unwrap_err(), ImageError::NotAnImage);
    }
}
