/** The agent's own version, reported by `hello` and `--version`. Keep in step with package.json. */
export const AGENT_VERSION = '0.1.0';
export const AGENT_PRODUCT = 'tideline-agent';
