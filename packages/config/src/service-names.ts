/** The suite's services, as `services/<name>` names them, in the order their manifests are rendered. */
export const SERVICE_NAMES = ['collector', 'processor', 'storage', 'alert-manager', 'backup', 'api-gateway'] as const;
/** Name of one of the suite's services. */
export type ServiceName = (typeof SERVICE_NAMES)[number];
