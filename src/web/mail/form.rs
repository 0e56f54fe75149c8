//! Multipart forms read as they arrive: the form token comes first and is checked before any
//! file part is read, text fields are small and capped, and each file part is handed on as a
//! stream, never held whole.

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use multer::{Field, Multipart};

use crate::service::AppState;
use crate::web::error::PageError;
use crate::web::session::SignedIn;

/// The most a text field (a message, a recipient) may hold.
const TEXT_LIMIT: usize = 64 * 1024;

pub struct FormReader {
    parts: Multipart<'static>,
}

pub enum Part {
    Text {
        name: String,
        value: String,
    },
    /// Boxed: a field's parser state is large beside a text field's two strings.
    File(Box<Field<'static>>),
}

impl FormReader {
    /// Opens the form and checks its token, which must be its first field.
    pub async fn open(state: &AppState, who: &SignedIn, headers: &HeaderMap, body: Body) -> Result<Self, PageError> {
        let mut reader = Self::start(headers, body)?;
        let token = match reader.next().await? {
            Some(Part::Text { name, value }) if name == "csrf" => value,
            _ => String::new(),
        };
        who.check_form_token(state, Some(token.as_str()))?;
        Ok(reader)
    }

    /// Starts reading a multipart body, without the form-token check that [`FormReader::open`]
    /// makes of its first field (the fuzz targets read forms from no session).
    pub fn start(headers: &HeaderMap, body: Body) -> Result<Self, PageError> {
        let boundary = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|ct| multer::parse_boundary(ct).ok())
            .ok_or_else(unreadable)?;
        Ok(Self { parts: Multipart::new(body.into_data_stream(), boundary) })
    }

    /// The next field: a text field read whole (it is small), or a file part to stream.
    pub async fn next(&mut self) -> Result<Option<Part>, PageError> {
        let Some(mut field) = self.parts.next_field().await.map_err(|_| unreadable())? else { return Ok(None) };
        if field.file_name().is_some() {
            return Ok(Some(Part::File(Box::new(field))));
        }
        let name = field.name().unwrap_or_default().to_owned();
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|_| unreadable())? {
            if bytes.len() + chunk.len() > TEXT_LIMIT {
                return Err(PageError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "The form is too long",
                    "Keep the message under 2,000 characters and try again.",
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        let value = String::from_utf8(bytes).map_err(|_| unreadable())?;
        Ok(Some(Part::Text { name, value }))
    }
}

fn unreadable() -> PageError {
    PageError::new(
        StatusCode::BAD_REQUEST,
        "The form could not be read",
        "Nothing was sent. Go back to the page, reload it and send the form again.",
    )
}
