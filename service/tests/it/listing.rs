//! The deployment list, a page at a time: the `Link` header names the next page until the last.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use cd_core::pipeline::{BuildNotified, Input};
use tower::ServiceExt as _;

use crate::robust::app;

#[tokio::test]
async fn the_list_pages_through_every_deployment_by_its_link_header() {
    let app = app();
    let images = cd_oci::OciLayout::new(&app.dir.path().join("registry"));
    for (i, name) in ["shop-api", "shop-web", "shop-worker"]
        .iter()
        .cycle()
        .take(5)
        .enumerate()
    {
        images
            .push_image("containers", name, &format!("v1.{i}.0"), name)
            .unwrap();
        app.driver
            .submit(&Input::BuildNotified(BuildNotified {
                build_definition_id: (*name).into(),
                container: (*name).into(),
                version: format!("v1.{i}.0"),
                ..BuildNotified::default()
            }))
            .await
            .unwrap();
    }
    let get = |uri: String| {
        let router = app.router.clone();
        async move {
            let response = router
                .oneshot(
                    Request::get(uri)
                        .header("x-infrastream-actor", "jane")
                        .body(Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            let status = response.status();
            let link = response
                .headers()
                .get(header::LINK)
                .map(|v| v.to_str().unwrap().to_string());
            let body = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap();
            let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
            (status, link, list)
        }
    };
    let mut uri = "/v1/deployments?limit=2&applicationSet=shop".to_string();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let (status, link, list) = get(uri.clone()).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        pages += 1;
        seen.extend(
            list.as_array()
                .unwrap()
                .iter()
                .map(|d| d["id"].as_str().unwrap().to_string()),
        );
        let Some(link) = link else { break };
        let next = link
            .strip_prefix('<')
            .and_then(|l| l.split_once(">; rel=\"next\""))
            .map(|(u, _)| u.to_string())
            .unwrap();
        assert!(
            next.contains("applicationSet=shop") && next.contains("limit=2"),
            "{next}"
        );
        uri = next;
    }
    let (_, _, whole) = get("/v1/deployments".to_string()).await;
    let whole: Vec<String> = whole
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen, whole, "the pages, in order, are the whole list");
    assert_eq!((seen.len(), pages), (5, 3));
    let (status, _, error) = get("/v1/deployments?after=yesterday".to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["field"], "after", "{error}");
}
