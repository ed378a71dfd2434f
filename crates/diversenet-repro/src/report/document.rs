//! A report as a list of blocks, rendered to Markdown (plots linked as SVG files) and to a
//! self-contained HTML page (plots inline).

use std::fmt::Write;

/// One piece of a report.
#[derive(Clone, Debug)]
pub enum Block {
    Heading(usize, String),
    Paragraph(String),
    /// A preformatted line (commands).
    Code(String),
    Table {
        header: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    /// A folded block of preformatted text (`<details>` in HTML).
    Details {
        summary: String,
        body: String,
    },
    /// An SVG plot: file name (beside the report) and its content.
    Plot {
        file: String,
        caption: String,
        svg: String,
    },
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The anchor of a heading, as GitHub makes it: lower case, spaces to '-', punctuation
/// other than '-' and '_' dropped.
pub fn slug(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// Escaped HTML of a cell, with Markdown links `[text](#anchor)` made links.
fn cell_html(s: &str) -> String {
    if let (Some(rest), true) = (s.strip_prefix('['), s.ends_with(')')) {
        if let Some((text, target)) = rest.split_once("](") {
            let target = &target[..target.len() - 1];
            return format!("<a href=\"{}\">{}</a>", escape(target), escape(text));
        }
    }
    escape(s)
}

/// The colour class of a verdict cell.
fn verdict_class(s: &str) -> Option<&'static str> {
    match s {
        "reproduced" => Some("v-yes"),
        "partly" => Some("v-partly"),
        "not reproduced" => Some("v-no"),
        "equivalent-null" => Some("v-null"),
        "undecided" => Some("v-open"),
        "mixed" => Some("v-mixed"),
        "beyond the paper" => Some("v-beyond"),
        "not run" => Some("v-none"),
        "consistency check" => Some("v-check"),
        _ => None,
    }
}

/// Markdown, with plots as links to their SVG files.
pub fn markdown(blocks: &[Block]) -> String {
    let mut out = String::new();
    for b in blocks {
        match b {
            Block::Heading(level, text) => {
                let _ = writeln!(out, "{} {text}\n", "#".repeat(*level));
            }
            Block::Paragraph(text) => {
                let _ = writeln!(out, "{text}\n");
            }
            Block::Code(text) => {
                let _ = writeln!(out, "```\n{text}\n```\n");
            }
            Block::Table { header, rows } => {
                let _ = writeln!(out, "| {} |", header.join(" | "));
                let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
                for r in rows {
                    let _ = writeln!(
                        out,
                        "| {} |",
                        r.iter()
                            .map(|c| c.replace('|', "\\|"))
                            .collect::<Vec<_>>()
                            .join(" | ")
                    );
                }
                out.push('\n');
            }
            Block::Details { summary, body } => {
                let _ = writeln!(
                    out,
                    "<details><summary>{}</summary>\n\n```\n{body}\n```\n\n</details>\n",
                    escape(summary)
                );
            }
            Block::Plot { file, caption, .. } => {
                let _ = writeln!(out, "![{caption}]({file})\n\n*{caption}*\n");
            }
        }
    }
    out
}

/// A self-contained HTML page: no external resources, SVG plots inline.
pub fn html(title: &str, blocks: &[Block]) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>\
         body{{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;line-height:1.45}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #bbb;padding:4px 8px;text-align:left}}\
         th{{background:#eee}}pre{{background:#f5f5f5;padding:8px;overflow-x:auto}}figure{{margin:1em 0}}\
         figcaption{{font-style:italic;color:#444}}.v-yes{{background:#c8f0c8}}.v-partly{{background:#fbeaa6}}\
         .v-no{{background:#f6c0c0}}.v-none{{background:#e4e4e4}}.v-check{{background:#d4e4f7}}\
         .v-null{{background:#e0d4f0}}.v-open{{background:#f0f0f0;font-style:italic}}.v-mixed{{background:#f7d9b5}}\
         .v-beyond{{background:#d8ecec}}\
         details{{margin:0.5em 0}}summary{{cursor:pointer}}</style></head><body>\n",
        escape(title)
    );
    for b in blocks {
        match b {
            Block::Heading(level, text) => {
                let _ = writeln!(
                    out,
                    "<h{level} id=\"{}\">{}</h{level}>",
                    escape(&slug(text)),
                    escape(text)
                );
            }
            Block::Paragraph(text) => {
                let _ = writeln!(out, "<p>{}</p>", escape(text));
            }
            Block::Code(text) => {
                let _ = writeln!(out, "<pre><code>{}</code></pre>", escape(text));
            }
            Block::Table { header, rows } => {
                out.push_str("<table><thead><tr>");
                for h in header {
                    let _ = write!(out, "<th>{}</th>", escape(h));
                }
                out.push_str("</tr></thead><tbody>\n");
                for r in rows {
                    out.push_str("<tr>");
                    for c in r {
                        match verdict_class(c) {
                            Some(class) => {
                                let _ = write!(out, "<td class=\"{class}\">{}</td>", escape(c));
                            }
                            None => {
                                let _ = write!(out, "<td>{}</td>", cell_html(c));
                            }
                        }
                    }
                    out.push_str("</tr>\n");
                }
                out.push_str("</tbody></table>\n");
            }
            Block::Details { summary, body } => {
                let _ = writeln!(
                    out,
                    "<details><summary>{}</summary><pre><code>{}</code></pre></details>",
                    escape(summary),
                    escape(body)
                );
            }
            Block::Plot { caption, svg, .. } => {
                let body = svg.find("<svg").map_or(svg.as_str(), |i| &svg[i..]);
                let _ = writeln!(
                    out,
                    "<figure>{body}<figcaption>{}</figcaption></figure>",
                    escape(caption)
                );
            }
        }
    }
    out.push_str("</body></html>\n");
    out
}

/// `word` as one POSIX shell word: as it is when it holds only plain characters, else in
/// single quotes (a quote inside written '\'').
pub fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+:,=@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_block() {
        let blocks = vec![
            Block::Heading(1, "T <1>".into()),
            Block::Paragraph("p".into()),
            Block::Code("cmd".into()),
            Block::Table {
                header: vec!["a".into(), "b".into()],
                rows: vec![
                    vec!["1".into(), "x|y".into()],
                    vec!["[a](#b)".into(), "partly".into()],
                ],
            },
            Block::Details {
                summary: "cfg".into(),
                body: "{}".into(),
            },
            Block::Plot {
                file: "f.svg".into(),
                caption: "cap".into(),
                svg: "<?xml?><svg></svg>".into(),
            },
        ];
        let md = markdown(&blocks);
        assert!(
            md.contains("# T <1>") && md.contains("| 1 | x\\|y |") && md.contains("![cap](f.svg)")
        );
        let h = html("t", &blocks);
        assert!(
            h.contains("<h1 id=\"t-1\">T &lt;1&gt;</h1>")
                && h.contains("<figure><svg></svg>")
                && !h.contains("<?xml")
        );
        assert!(!h.contains("http"), "self-contained");
        assert!(
            h.contains("<a href=\"#b\">a</a>") && h.contains("<td class=\"v-partly\">partly</td>")
        );
        assert!(
            h.contains("<details><summary>cfg</summary>")
                && md.contains("<details><summary>cfg</summary>")
        );
        assert!(h.contains("<h1 id=\"t-1\">"));
        assert_eq!(slug("RQ2/RQ4: diversity, s_m(D)"), "rq2rq4-diversity-s_md");
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("--out"), "--out");
        assert_eq!(shell_word("runs/a b"), "'runs/a b'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
