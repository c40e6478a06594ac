/** The KVDB version, reported by `cluster_info` and `--version`. */
export const VERSION = "0.1.0";
