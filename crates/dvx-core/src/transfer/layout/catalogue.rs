//! `catalogue.txt`: the listing of a remote for readers that cannot list it (a web server).

use dvx_store::BackendError;

use super::{INDEXES, PACKS, TREES};
use crate::error::Result;
use crate::transfer::session::Session;

/// How often [`refresh_catalogue`] rewrites the catalogue while other writers keep changing
/// the remote, before leaving the rest to them.
const CATALOGUE_ROUNDS: usize = 5;

/// The objects the catalogue lists: everything a reader lists (packs, indexes, trees, keys).
fn catalogued(b: &Session<'_>) -> std::result::Result<Vec<dvx_store::ObjectInfo>, BackendError> {
    let mut all = b.list(PACKS)?;
    all.extend(b.list(INDEXES)?);
    all.extend(b.list(TREES)?);
    // An encrypted remote's readers over HTTP find its key objects here too.
    all.extend(b.list(crate::crypt::KEYS)?);
    all.sort_by(|x, y| x.key.cmp(&y.key));
    Ok(all)
}

/// Brings the remote's catalogue (docs/FORMAT.md) up to date after a push or gc changed the
/// remote. Lock-free with concurrent writers: each lists, writes, and lists again until what
/// it wrote is what is there, so the last writer's catalogue holds every object written
/// before it finished; a writer killed before this step leaves its objects out until the
/// next push.
pub(crate) fn refresh_catalogue(b: &Session<'_>) -> Result<()> {
    let rerr = |e| b.error(e);
    let mut objects = catalogued(b).map_err(rerr)?;
    let current = match b.get_uncounted(dvx_remote::CATALOGUE, dvx_remote::MAX_CATALOGUE_LEN) {
        Ok(t) => Some(t),
        Err(BackendError::NotFound { .. }) => None,
        Err(e) => return Err(rerr(e)),
    };
    let mut text = dvx_remote::render_catalogue(&objects);
    if current.as_deref() == Some(text.as_bytes()) {
        return Ok(());
    }
    for _ in 0..CATALOGUE_ROUNDS {
        b.put_uncounted(dvx_remote::CATALOGUE, text.into_bytes())
            .map_err(rerr)?;
        let again = catalogued(b).map_err(rerr)?;
        if again == objects {
            break;
        }
        objects = again;
        text = dvx_remote::render_catalogue(&objects);
    }
    Ok(())
}
