//! Recognises PNG, JPEG and WebP screenshots by their bytes (never by the declared type) and
//! reads their dimensions from the headers, walking the container structure far enough to
//! refuse truncated or forged files. Nothing is decoded into pixels: the mock only stores and
//! serves the file.

/// Largest side accepted, in pixels (phone screenshots are far below).
pub const MAX_SIDE: u32 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    Png,
    Jpeg,
    WebP,
}

impl ImageKind {
    pub fn mime(self) -> &'static str {
        match self {
            ImageKind::Png => "image/png",
            ImageKind::Jpeg => "image/jpeg",
            ImageKind::WebP => "image/webp",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageError {
    /// Not one of the accepted formats.
    NotAnImage,
    /// The right magic bytes, but a broken or absurd file.
    Invalid,
}

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

pub fn sniff(data: &[u8]) -> Option<ImageKind> {
    if data.starts_with(PNG_MAGIC) {
        Some(ImageKind::Png)
    } else if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageKind::Jpeg)
    } else if data.len() >= 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WEBP" {
        Some(ImageKind::WebP)
    } else {
        None
    }
}

/// The format and (width, height) of an accepted screenshot.
pub fn inspect(data: &[u8]) -> Result<(ImageKind, u32, u32), ImageError> {
    let kind = sniff(data).ok_or(ImageError::NotAnImage)?;
    let (w, h) = match kind {
        ImageKind::Png => png(data),
        ImageKind::Jpeg => jpeg(data),
        ImageKind::WebP => webp(data),
    }
    .ok_or(ImageError::Invalid)?;
    if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE {
        return Err(ImageError::Invalid);
    }
    Ok((kind, w, h))
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn le16(b: &[u8]) -> u32 {
    u16::from_le_bytes([b[0], b[1]]) as u32
}

fn le24(b: &[u8]) -> u32 {
    b[0] as u32 | (b[1] as u32) << 8 | (b[2] as u32) << 16
}

/// IHDR first, then well-formed chunks up to IEND with at least one IDAT.
fn png(d: &[u8]) -> Option<(u32, u32)> {
    let mut pos = PNG_MAGIC.len();
    let mut dims = None;
    let mut idat = false;
    loop {
        let header = d.get(pos..pos + 8)?;
        let len = be32(&header[..4]) as usize;
        let kind = &header[4..8];
        let data = d.get(pos + 8..pos.checked_add(8 + len)?)?;
        d.get(pos + 8 + len..pos + 12 + len)?; // the CRC must be there
        match kind {
            b"IHDR" if dims.is_none() && len == 13 => {
                let bit_depth = data[8];
                let color = data[9];
                if ![1, 2, 4, 8, 16].contains(&bit_depth) || ![0, 2, 3, 4, 6].contains(&color) {
                    return None;
                }
                dims = Some((be32(&data[..4]), be32(&data[4..8])));
            }
            _ if dims.is_none() => return None,
            b"IDAT" => idat = true,
            b"IEND" => return dims.filter(|_| idat),
            _ => {}
        }
        pos += 12 + len;
    }
}

/// Markers up to a start-of-frame, which holds the dimensions.
fn jpeg(d: &[u8]) -> Option<(u32, u32)> {
    let mut pos = 2;
    loop {
        if *d.get(pos)? != 0xFF {
            return None;
        }
        while *d.get(pos)? == 0xFF {
            pos += 1;
        }
        let marker = *d.get(pos)?;
        pos += 1;
        match marker {
            // Markers without a length.
            0x01 | 0xD0..=0xD7 => continue,
            // End of image or start of scan before any frame header: not a usable image.
            0xD9 | 0xDA => return None,
            _ => {}
        }
        let len = u16::from_be_bytes([*d.get(pos)?, *d.get(pos + 1)?]) as usize;
        if len < 2 {
            return None;
        }
        let seg = d.get(pos + 2..pos + len)?;
        if matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            if seg.len() < 5 {
                return None;
            }
            let h = u16::from_be_bytes([seg[1], seg[2]]) as u32;
            let w = u16::from_be_bytes([seg[3], seg[4]]) as u32;
            return Some((w, h));
        }
        pos += len;
    }
}

/// The first chunk of a RIFF/WEBP file: lossy (VP8), lossless (VP8L) or extended (VP8X).
fn webp(d: &[u8]) -> Option<(u32, u32)> {
    let riff_len = u32::from_le_bytes(d.get(4..8)?.try_into().ok()?) as usize;
    if riff_len.checked_add(8)? > d.len() || riff_len < 4 {
        return None;
    }
    let kind = d.get(12..16)?;
    let len = u32::from_le_bytes(d.get(16..20)?.try_into().ok()?) as usize;
    let c = d.get(20..20usize.checked_add(len)?)?;
    match kind {
        b"VP8 " => {
            // Frame tag (3 bytes), start code 9d 01 2a, then 14-bit width and height.
            if c.len() < 10 || c[3..6] != [0x9d, 0x01, 0x2a] || c[0] & 1 != 0 {
                return None;
            }
            Some((le16(&c[6..8]) & 0x3FFF, le16(&c[8..10]) & 0x3FFF))
        }
        b"VP8L" => {
            if c.len() < 5 || c[0] != 0x2F {
                return None;
            }
            let bits = u32::from_le_bytes([c[1], c[2], c[3], c[4]]);
            Some(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
        }
        b"VP8X" => {
            if c.len() < 10 {
                return None;
            }
            Some((le24(&c[4..7]) + 1, le24(&c[7..10]) + 1))
        }
        _ => None,
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&[0, 0, 0, 0]);
    }

    fn png_of(w: u32, h: u32) -> Vec<u8> {
        let mut d = PNG_MAGIC.to_vec();
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&w.to_be_bytes());
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        chunk(&mut d, b"IHDR", &ihdr);
        chunk(&mut d, b"IDAT", &[0x78, 0x9c, 0, 0]);
        chunk(&mut d, b"IEND", &[]);
        d
    }

    #[test]
    fn png_dimensions_and_truncation() {
        let d = png_of(1080, 2400);
        assert_eq!(inspect(&d), Ok((ImageKind::Png, 1080, 2400)));
        assert_eq!(inspect(&d[..d.len() - 6]), Err(ImageError::Invalid));
        assert_eq!(inspect(&png_of(0, 10)), Err(ImageError::Invalid));
        assert_eq!(inspect(&png_of(20_000, 10)), Err(ImageError::Invalid));
    }

    #[test]
    fn jpeg_dimensions() {
        let mut d = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x4A, 0x46];
        d.extend_from_slice(&[
            0xFF, 0xC0, 0x00, 0x0B, 8, 0x03, 0x20, 0x02, 0x58, 1, 1, 0x11, 0,
        ]);
        assert_eq!(inspect(&d), Ok((ImageKind::Jpeg, 600, 800)));
        assert_eq!(inspect(&[0xFF, 0xD8, 0xFF, 0xD9]), Err(ImageError::Invalid));
    }

    #[test]
    fn webp_dimensions() {
        let mut d = b"RIFF\0\0\0\0WEBPVP8X".to_vec();
        d.extend_from_slice(&10u32.to_le_bytes());
        d.extend_from_slice(&[0, 0, 0, 0, 0x37, 0x04, 0x00, 0x5F, 0x09, 0x00]);
        let len = (d.len() - 8) as u32;
        d[4..8].copy_from_slice(&len.to_le_bytes());
        assert_eq!(inspect(&d), Ok((ImageKind::WebP, 1080, 2400)));
    }

    #[test]
    fn other_files_are_not_images() {
        assert_eq!(inspect(b"%PDF-1.7"), Err(ImageError::NotAnImage));
        assert_eq!(inspect(b"GIF89a"), Err(ImageError::NotAnImage));
        assert_eq!(inspect(b""), Err(ImageError::NotAnImage));
    }
}
