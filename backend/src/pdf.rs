//! A minimal PDF 1.4 writer for documents of text (a challenge's statement, `statement`):
//! lines in Helvetica, Helvetica-Bold or Courier (three of the fourteen fonts every reader
//! has, so nothing is embedded), wrapped to the page's width, new pages as the text needs
//! them, and a footer on every page. Content streams are left uncompressed: the file is small
//! and its text can be searched as it is (a test finds the statement's hash in it).
//!
//! It knows nothing of statements; it must not grow into a layout engine: no images, no
//! tables beyond monospaced lines.

use std::fmt::Write as _;

/// A4, in points.
const PAGE_WIDTH: f32 = 595.0;
const PAGE_HEIGHT: f32 = 842.0;
/// Left, right and top margin.
const MARGIN: f32 = 50.0;
/// Text stops this far above the bottom edge; the footer sits below it.
const BOTTOM: f32 = 60.0;
/// The footer's baseline.
const FOOTER_Y: f32 = 30.0;
/// Line height as a multiple of the font size.
const LEADING: f32 = 1.35;

/// A font of the document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Font {
    /// Helvetica.
    Regular,
    /// Helvetica-Bold.
    Bold,
    /// Courier: every character as wide as the next, for columns.
    Mono,
}

impl Font {
    fn resource(self) -> &'static str {
        match self {
            Font::Regular => "F1",
            Font::Bold => "F2",
            Font::Mono => "F3",
        }
    }

    /// The width of `byte` (WinAnsi) in thousandths of the font size.
    fn width(self, byte: u8) -> f32 {
        match self {
            Font::Mono => 600.0,
            Font::Regular => helvetica(byte),
            // Bold is wider than regular by about this much; wrapping errs on the safe side.
            Font::Bold => helvetica(byte) * 1.1,
        }
    }
}

/// Helvetica's advance widths (Adobe's metrics) for the printable ASCII characters; a
/// character outside them is counted as a digit's width.
fn helvetica(byte: u8) -> f32 {
    const WIDTHS: [u16; 95] = [
        278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278,
        278, // ' '../
        556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584,
        556, // 0..?
        1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722,
        778, // @..O
        667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469,
        556, // P.._
        333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556,
        556, // `..o
        556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // p..~
    ];
    byte.checked_sub(32)
        .and_then(|index| WIDTHS.get(usize::from(index)))
        .map_or(556.0, |width| f32::from(*width))
}

/// `text` in WinAnsiEncoding (the standard fonts' encoding here): Latin-1 as it is, the
/// typographic marks WinAnsi has in its own places, anything else as `?`.
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            '\t' => b' ',
            ' '..='~' | '\u{a0}'..='\u{ff}' => u8::try_from(c).unwrap_or(b'?'),
            '€' => 0x80,
            '…' => 0x85,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            '→' => b'>',
            _ => b'?',
        })
        .collect()
}

/// `bytes` as a PDF literal string: `(`, `)` and `\` escaped, anything outside printable ASCII
/// as an octal escape, so the file's text stays ASCII.
fn literal(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('(');
    for &byte in bytes {
        match byte {
            b'(' | b')' | b'\\' => {
                out.push('\\');
                out.push(char::from(byte));
            }
            0x20..=0x7e => out.push(char::from(byte)),
            _ => {
                let _ = write!(out, "\\{byte:03o}");
            }
        }
    }
    out.push(')');
    out
}

/// A document being written, page by page.
pub struct Document {
    title: String,
    /// The PDF date of its creation (`D:YYYYMMDDHHmmSSZ`).
    created: String,
    pages: Vec<String>,
    page: String,
    /// The next line's baseline.
    y: f32,
}

impl Document {
    /// A new document, its first page empty.
    pub fn new(title: &str, created: chrono::DateTime<chrono::Utc>) -> Self {
        Self {
            title: title.to_owned(),
            created: created.format("D:%Y%m%d%H%M%SZ").to_string(),
            pages: Vec::new(),
            page: String::new(),
            y: PAGE_HEIGHT - MARGIN,
        }
    }

    /// Writes `text` from the left margin, `indent` points in, wrapped at spaces to the width
    /// left (a word longer than a line is cut), on a new page when this one is full.
    pub fn text(&mut self, font: Font, size: f32, indent: f32, text: &str) {
        let width = PAGE_WIDTH - 2.0 * MARGIN - indent;
        for line in wrap(&win_ansi(text), font, size, width) {
            self.line(font, size, MARGIN + indent, &line);
        }
    }

    /// Leaves `points` of space (nothing at the top of a page).
    pub fn space(&mut self, points: f32) {
        if !self.page.is_empty() {
            self.y -= points;
        }
    }

    /// Starts a new page (unless this one is still empty).
    pub fn page_break(&mut self) {
        if !self.page.is_empty() {
            self.pages.push(std::mem::take(&mut self.page));
        }
        self.y = PAGE_HEIGHT - MARGIN;
    }

    fn line(&mut self, font: Font, size: f32, x: f32, bytes: &[u8]) {
        let height = size * LEADING;
        if self.y - height < BOTTOM {
            self.page_break();
        }
        self.y -= height;
        let _ = writeln!(
            self.page,
            "BT /{} {size:.1} Tf {x:.2} {:.2} Td {} Tj ET",
            font.resource(),
            self.y,
            literal(bytes)
        );
    }

    /// The file: every page with `footer` and its number (`page 2 of 5`) at the bottom.
    pub fn finish(mut self, footer: &str) -> Vec<u8> {
        if !self.page.is_empty() || self.pages.is_empty() {
            self.pages.push(std::mem::take(&mut self.page));
        }
        let count = self.pages.len();
        let mut objects: Vec<String> = vec![
            "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
            String::new(), // the page tree, once the pages' numbers are known
            font_object("Helvetica"),
            font_object("Helvetica-Bold"),
            font_object("Courier"),
            format!(
                "<< /Title {} /Producer (Riskdeck) /CreationDate ({}) >>",
                literal(&win_ansi(&self.title)),
                self.created
            ),
        ];
        let mut kids = Vec::with_capacity(count);
        for (index, content) in self.pages.iter().enumerate() {
            let mut content = content.clone();
            let footer = format!("{footer}    page {} of {count}", index + 1);
            let lines = wrap(
                &win_ansi(&footer),
                Font::Regular,
                7.0,
                PAGE_WIDTH - 2.0 * MARGIN,
            );
            for (row, line) in lines.iter().enumerate().take(2) {
                let y = FOOTER_Y - 9.0 * row as f32;
                let _ = writeln!(
                    content,
                    "BT /F1 7.0 Tf {MARGIN:.2} {y:.2} Td {} Tj ET",
                    literal(line)
                );
            }
            let page_number = objects.len() + 1;
            kids.push(format!("{page_number} 0 R"));
            objects.push(format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH:.0} {PAGE_HEIGHT:.0}] \
                 /Resources << /Font << /F1 3 0 R /F2 4 0 R /F3 5 0 R >> >> \
                 /Contents {} 0 R >>",
                page_number + 1
            ));
            objects.push(format!(
                "<< /Length {} >>\nstream\n{content}endstream",
                content.len()
            ));
        }
        objects[1] = format!(
            "<< /Type /Pages /Kids [{}] /Count {count} >>",
            kids.join(" ")
        );
        // A binary comment on the second line tells transfer tools the file is not text.
        let mut file: Vec<u8> = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
        let mut offsets = Vec::with_capacity(objects.len());
        for (index, object) in objects.iter().enumerate() {
            offsets.push(file.len());
            file.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", index + 1).as_bytes());
        }
        let xref = file.len();
        let mut table = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
        for offset in offsets {
            let _ = writeln!(table, "{offset:010} 00000 n ");
        }
        let _ = write!(
            table,
            "trailer\n<< /Size {} /Root 1 0 R /Info 6 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        );
        file.extend_from_slice(table.as_bytes());
        file
    }
}

fn font_object(name: &str) -> String {
    format!("<< /Type /Font /Subtype /Type1 /BaseFont /{name} /Encoding /WinAnsiEncoding >>")
}

/// `bytes` cut into lines no wider than `width` points: at spaces, or inside a word longer
/// than a line. An empty text is one empty line.
fn wrap(bytes: &[u8], font: Font, size: f32, width: f32) -> Vec<Vec<u8>> {
    let measure =
        |text: &[u8]| -> f32 { text.iter().map(|b| font.width(*b)).sum::<f32>() * size / 1000.0 };
    let mut lines = Vec::new();
    let mut line: Vec<u8> = Vec::new();
    for word in bytes.split(|b| *b == b' ') {
        let mut candidate = line.clone();
        if !candidate.is_empty() {
            candidate.push(b' ');
        }
        candidate.extend_from_slice(word);
        if measure(&candidate) <= width {
            line = candidate;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        // A word wider than a line goes on lines of its own, cut where it must be.
        for &byte in word {
            line.push(byte);
            if measure(&line) > width && line.len() > 1 {
                line.pop();
                lines.push(std::mem::replace(&mut line, vec![byte]));
            }
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created() -> chrono::DateTime<chrono::Utc> {
        "2026-03-03T08:00:00Z".parse().expect("time")
    }

    /// The file as text, byte for byte (the binary comment's bytes as `?`), so offsets hold.
    fn ascii(file: &[u8]) -> String {
        file.iter()
            .map(|b| if b.is_ascii() { char::from(*b) } else { '?' })
            .collect()
    }

    /// The objects the cross-reference table points at, checked to start where it says.
    fn check_xref(file: &[u8]) -> usize {
        let text = ascii(file);
        let start: usize = text
            .rsplit("startxref\n")
            .next()
            .and_then(|rest| rest.lines().next())
            .and_then(|n| n.parse().ok())
            .expect("startxref");
        assert!(text[start..].starts_with("xref\n0 "), "xref at {start}");
        let mut entries = text[start..].lines().skip(3);
        let mut count = 0;
        for entry in &mut entries {
            if entry.starts_with("trailer") {
                break;
            }
            let offset: usize = entry[..10].parse().expect("offset");
            count += 1;
            assert!(
                file[offset..].starts_with(format!("{count} 0 obj\n").as_bytes()),
                "object {count} is not at {offset}"
            );
        }
        count
    }

    #[test]
    fn a_short_document_is_one_valid_page() {
        let mut document = Document::new("A (test)", created());
        document.text(Font::Bold, 14.0, 0.0, "Statement");
        document.text(Font::Mono, 9.0, 0.0, "abc (1) \\ 2");
        let file = document.finish("footer");
        assert!(file.starts_with(b"%PDF-1.4\n"));
        assert!(file.ends_with(b"%%EOF\n"));
        let text = ascii(&file);
        assert!(text.contains("/Count 1 "), "{text}");
        assert!(text.contains("(abc \\(1\\) \\\\ 2) Tj"), "{text}");
        assert!(text.contains("/Title (A \\(test\\))"), "{text}");
        assert!(text.contains("(footer    page 1 of 1) Tj"), "{text}");
        assert!(text.contains("/CreationDate (D:20260303080000Z)"));
        // Catalog, pages, three fonts, info, one page and its content.
        assert_eq!(check_xref(&file), 8);
        // Each stream's length is its content's.
        let stream = text.find("stream\n").expect("stream") + "stream\n".len();
        let end = text[stream..].find("endstream").expect("end") + stream;
        let length: usize = text[..stream]
            .rsplit("/Length ")
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .expect("length");
        assert_eq!(length, end - stream);
    }

    #[test]
    fn long_text_wraps_and_breaks_onto_new_pages() {
        let mut document = Document::new("long", created());
        let paragraph = "word ".repeat(400);
        for _ in 0..10 {
            document.text(Font::Regular, 10.0, 0.0, &paragraph);
            document.space(6.0);
        }
        document.page_break();
        document.page_break();
        let file = document.finish("f");
        let text = ascii(&file);
        let pages = text.matches("/Type /Page ").count();
        assert!(pages >= 3, "{pages} pages");
        assert!(text.contains(&format!("/Count {pages} ")));
        assert!(text.contains(&format!("(f    page {pages} of {pages}) Tj")));
        assert_eq!(check_xref(&file), 6 + 2 * pages);
        // No line is wider than the page allows.
        for line in wrap(paragraph.as_bytes(), Font::Regular, 10.0, 100.0) {
            let width: f32 = line.iter().map(|b| helvetica(*b)).sum::<f32>() / 100.0;
            assert!(width <= 100.0, "{width}");
        }
    }

    #[test]
    fn text_is_written_in_win_ansi_with_escapes() {
        assert_eq!(win_ansi("a–b €é\u{1F600}"), b"a\x96b \x80\xe9?");
        assert_eq!(literal(b"\x96(x)"), "(\\226\\(x\\))");
        // A word longer than a line is cut, nothing lost.
        let long = [b'W'; 200];
        let lines = wrap(&long, Font::Mono, 10.0, 60.0);
        assert!(lines.len() > 1);
        assert_eq!(lines.concat(), long);
        assert_eq!(
            wrap(b"", Font::Regular, 10.0, 100.0),
            vec![Vec::<u8>::new()]
        );
    }
}
