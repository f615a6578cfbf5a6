//! `infrastream images`: images in the embedded registry (the OCI image layout `serve` uses
//! under its data directory), for trying your own tenant without a registry server.

use std::path::PathBuf;
use std::process::ExitCode;

use cd_oci::OciLayout;
use cd_ports::Registry as _;
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Copy an image from an OCI image layout directory (what `skopeo copy ... oci:DIR`,
    /// `crane push --format oci`, `docker buildx --output type=oci,tar=false` or an unpacked
    /// `oci-archive` hold) into the embedded registry as IMAGE:TAG.
    Import {
        /// The OCI image layout directory.
        layout: PathBuf,
        /// Which image of the layout (its `org.opencontainers.image.ref.name`), when it holds
        /// several.
        #[arg(long = "ref")]
        reference: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Add a small placeholder image as IMAGE:TAG, as CI would push a build: enough for the
    /// pipeline and the local engine, which never run the image.
    Add {
        #[command(flatten)]
        target: Target,
    },
    /// List the tags of an image in the embedded registry.
    List {
        /// The image.
        #[arg(long)]
        image: String,
        /// The registry: an ArtifactRegistry name of your manifests.
        #[arg(long)]
        registry: String,
        #[command(flatten)]
        place: Place,
    },
}

/// Where the embedded registry is.
#[derive(Debug, Args)]
pub(crate) struct Place {
    /// The service's data directory; its registry is DIR/registry.
    #[arg(long, default_value = ".infrastream")]
    dir: PathBuf,
    /// The image layout root, when `registry.path` names another.
    #[arg(long)]
    layout_root: Option<PathBuf>,
}

impl Place {
    fn layout(&self) -> OciLayout {
        OciLayout::new(
            &self
                .layout_root
                .clone()
                .unwrap_or_else(|| self.dir.join("registry")),
        )
    }
}

/// The image and tag to write.
#[derive(Debug, Args)]
pub(crate) struct Target {
    /// The image name (a BuildDefinition's `containerize.name`, or an ExternalApplication's
    /// image).
    #[arg(long)]
    image: String,
    /// The tag: the version a notification or a manifest names.
    #[arg(long)]
    tag: String,
    /// The registry: an ArtifactRegistry name of your manifests.
    #[arg(long)]
    registry: String,
    #[command(flatten)]
    place: Place,
}

pub(crate) fn run(cmd: Command) -> ExitCode {
    let result = match &cmd {
        Command::Import {
            layout,
            reference,
            target,
        } => target
            .place
            .layout()
            .import(
                &target.registry,
                &target.image,
                &target.tag,
                layout,
                reference.as_deref(),
            )
            .map(|digest| {
                format!(
                    "imported {}:{} into registry {} ({digest})",
                    target.image, target.tag, target.registry
                )
            }),
        Command::Add { target } => target
            .place
            .layout()
            .push_image(
                &target.registry,
                &target.image,
                &target.tag,
                &format!("{}:{} (placeholder)", target.image, target.tag),
            )
            .map(|digest| {
                format!(
                    "added {}:{} to registry {} ({digest})",
                    target.image, target.tag, target.registry
                )
            }),
        Command::List {
            image,
            registry,
            place,
        } => match tokio::runtime::Builder::new_current_thread().build() {
            Ok(rt) => rt
                .block_on(place.layout().list_tags(registry, image, ""))
                .map(|tags| tags.join("\n")),
            Err(e) => Err(cd_ports::RegistryError::Unavailable(e.to_string())),
        },
    };
    match result {
        Ok(text) => {
            if !text.is_empty() {
                println!("{text}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
