//! Azure Blob Storage (`az://container/prefix`) via `object_store`'s Azure client: an account
//! name and key, a SAS token, a connection string, or the Azurite emulator.

use std::sync::Arc;

use object_store::azure::MicrosoftAzureBuilder;

use crate::cloud::{client_options, endpoint_password, retry_config, CloudBackend, Provider};

/// Azurite's well-known development account (published in Azure's documentation; not a
/// secret).
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known development account key.
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// Where Azurite serves blobs by default.
pub const AZURITE_ENDPOINT: &str = "http://127.0.0.1:10000/devstoreaccount1";

/// Connection settings resolved by the caller (config files, environment).
#[derive(Clone, Default)]
pub struct AzureSettings {
    /// Storage account name.
    pub account: Option<String>,
    /// Storage account key (base64).
    pub access_key: Option<String>,
    /// A shared access signature (`sv=...&sig=...`).
    pub sas_token: Option<String>,
    /// A connection string (`AccountName=...;AccountKey=...;BlobEndpoint=...`, or
    /// `UseDevelopmentStorage=true` for Azurite); the fields set above take precedence.
    pub connection_string: Option<String>,
    /// Blob service URL (`http://127.0.0.1:10000/devstoreaccount1` for Azurite); None =
    /// `https://<account>.blob.core.windows.net`.
    pub endpoint: Option<String>,
    /// Allow plain HTTP (implied by an `http://` endpoint).
    pub allow_http: bool,
}

impl std::fmt::Debug for AzureSettings {
    // Never print secrets, not even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureSettings")
            .field("account", &self.account)
            .field("access_key", &self.access_key.as_ref().map(|_| "***"))
            .field("sas_token", &self.sas_token.as_ref().map(|_| "***"))
            .field(
                "connection_string",
                &self.connection_string.as_ref().map(|_| "***"),
            )
            .field(
                "endpoint",
                &self.endpoint.as_deref().map(crate::redact_userinfo),
            )
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

/// The fields of a connection string dvx uses.
#[derive(Default, Debug, PartialEq, Eq)]
struct Connection {
    account: Option<String>,
    key: Option<String>,
    sas: Option<String>,
    endpoint: Option<String>,
}

/// Parses `Key=Value;...` (keys case-insensitive; values may contain `=`).
fn parse_connection_string(text: &str) -> Result<Connection, String> {
    let mut c = Connection::default();
    let mut protocol = "https".to_string();
    let mut suffix = "core.windows.net".to_string();
    let mut dev = false;
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            return Err("it is not a list of Key=Value separated by `;`".into());
        };
        match k.trim().to_ascii_lowercase().as_str() {
            "accountname" => c.account = Some(v.to_string()),
            "accountkey" => c.key = Some(v.to_string()),
            "sharedaccesssignature" => c.sas = Some(v.to_string()),
            "blobendpoint" => c.endpoint = Some(v.trim_end_matches('/').to_string()),
            "defaultendpointsprotocol" => protocol = v.to_string(),
            "endpointsuffix" => suffix = v.to_string(),
            "usedevelopmentstorage" => dev = v.eq_ignore_ascii_case("true"),
            // Queue, table and file endpoints and the like do not concern blobs.
            _ => {}
        }
    }
    if dev {
        c.account.get_or_insert_with(|| AZURITE_ACCOUNT.into());
        c.key.get_or_insert_with(|| AZURITE_KEY.into());
        c.endpoint.get_or_insert_with(|| AZURITE_ENDPOINT.into());
    }
    if c.endpoint.is_none() {
        if let Some(a) = &c.account {
            c.endpoint = Some(format!("{protocol}://{a}.blob.{suffix}"));
        }
    }
    Ok(c)
}

/// Connects lazily (no request is made here).
pub(crate) fn open(
    container: &str,
    prefix: &str,
    s: &AzureSettings,
) -> Result<CloudBackend, crate::Error> {
    let url = if prefix.is_empty() {
        format!("az://{container}")
    } else {
        format!("az://{container}/{prefix}")
    };
    let setup = |why: String| crate::Error::Setup {
        remote: url.clone(),
        why: crate::redact_userinfo(&why),
    };
    let conn = match &s.connection_string {
        Some(text) => parse_connection_string(text).map_err(|why| {
            setup(format!(
                "the connection string (AZURE_STORAGE_CONNECTION_STRING or \
                 `connection_string` in .dvx/config.local.toml) cannot be read: {why}"
            ))
        })?,
        None => Connection::default(),
    };
    let account = s.account.clone().or(conn.account);
    let key = s.access_key.clone().or(conn.key);
    let sas = s.sas_token.clone().or(conn.sas);
    let endpoint = s.endpoint.clone().or(conn.endpoint);
    let Some(account) = account else {
        return Err(setup(
            "no storage account: set AZURE_STORAGE_ACCOUNT_NAME (and AZURE_STORAGE_ACCOUNT_KEY) \
             or AZURE_STORAGE_CONNECTION_STRING, or `account_name` in .dvx/config.local.toml"
                .into(),
        ));
    };
    let mut b = MicrosoftAzureBuilder::new()
        .with_account(&account)
        .with_container_name(container)
        .with_retry(retry_config())
        .with_client_options(client_options(
            s.allow_http
                || endpoint
                    .as_deref()
                    .is_some_and(|e| e.starts_with("http://")),
        ));
    // An explicit endpoint (Azurite's path-style `http://host:port/<account>` included)
    // rather than `with_use_emulator`, which reads its address from the environment.
    if let Some(e) = &endpoint {
        b = b.with_endpoint(e.trim_end_matches('/').to_string());
    }
    match (&key, &sas) {
        (Some(k), _) => b = b.with_access_key(k),
        (None, Some(t)) => {
            let pairs: Vec<(String, String)> = t
                .trim_start_matches('?')
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            b = b.with_sas_authorization(pairs);
        }
        // No credentials: anonymous requests (public containers) instead of asking the
        // instance metadata service, which hangs outside cloud VMs.
        (None, None) => b = b.with_skip_signature(true),
    }
    let store = b.build().map_err(|e| setup(e.to_string()))?;
    let mut secrets: Vec<String> = [key, endpoint_password(endpoint.as_deref())]
        .into_iter()
        .flatten()
        .collect();
    if let Some(t) = &sas {
        secrets.push(t.clone());
        // The signature alone may appear in a request URL (percent-encoded or not).
        if let Some((_, sig)) = t
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "sig")
        {
            secrets.push(sig.to_string());
        }
    }
    CloudBackend::new(Arc::new(store), Provider::Azure, prefix, url, secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_strings() {
        let c = parse_connection_string(
            "DefaultEndpointsProtocol=http;AccountName=acc;AccountKey=a2V5==;\
             BlobEndpoint=http://127.0.0.1:10000/acc/;QueueEndpoint=http://x",
        )
        .expect("valid");
        assert_eq!(c.account.as_deref(), Some("acc"));
        assert_eq!(c.key.as_deref(), Some("a2V5=="));
        assert_eq!(c.endpoint.as_deref(), Some("http://127.0.0.1:10000/acc"));
        let c = parse_connection_string("AccountName=acc;AccountKey=k;EndpointSuffix=core.x.cn")
            .expect("valid");
        assert_eq!(c.endpoint.as_deref(), Some("https://acc.blob.core.x.cn"));
        let c = parse_connection_string("UseDevelopmentStorage=true").expect("valid");
        assert_eq!(c.account.as_deref(), Some(AZURITE_ACCOUNT));
        assert_eq!(c.endpoint.as_deref(), Some(AZURITE_ENDPOINT));
        assert!(parse_connection_string("garbage").is_err());
    }
}
