//! Profile images: an upload is decoded (with size and dimension limits, so a crafted file
//! cannot exhaust memory), cropped and resized, and re-encoded — which drops every bit of
//! metadata — before it is stored in the database, where every instance can serve it.

use std::io::Cursor;

use image::{ImageFormat, ImageReader, Limits};

/// Largest upload accepted.
pub const MAX_BYTES: usize = 5 * 1024 * 1024;
const MAX_DIMENSION: u32 = 8000;

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
}

/// A processed image, ready to store.
#[derive(Debug, Clone)]
pub struct Processed {
    pub content_type: &'static str,
    pub data: Vec<u8>,
    pub width: u32,
    pub height: u32,
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
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let img = reader.decode().map_err(|_| ImageError::NotAnImage)?;
    let (w, h) = kind.size();
    let resized = img.resize_to_fill(w, h, image::imageops::FilterType::Lanczos3);
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
mod tests {
    use super::*;

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
