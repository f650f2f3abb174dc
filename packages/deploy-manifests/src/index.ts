export { buildManifests, CONFIG_MAP_NAME, SECRET_NAME, SECRET_PLACEHOLDER } from './manifests.ts';
export type { Manifest, ManifestFile } from './manifests.ts';
export { overlays, scalingFromConfig, defaultConfig, suiteVersion, SERVICES, OPS_PORTS } from './overlays.ts';
export type { Overlay, Autoscaling, ResourceSettings } from './overlays.ts';
export { renderAll, writeAll, overlayDir, K8S_DIR } from './render.ts';
