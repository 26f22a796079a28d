import { TidelineError, toTidelineError } from '../../../app/errors';
import type { EstateSnapshot, SiteView } from '../../../app/protocol';

/** The site with this id in the estate, or NOT_FOUND naming it. */
export function knownSite(snapshot: EstateSnapshot, siteId: string): SiteView {
  const site = snapshot.sites.find((s) => s.siteId === siteId);
  if (site === undefined) {
    throw new TidelineError('NOT_FOUND', `No agent of site ${siteId} is known to this console.`, {
      siteId,
    });
  }
  return site;
}

/** An agent's refusal, its code kept and its message passed through after some context. */
export function refused(err: unknown, context: string): TidelineError {
  const e = toTidelineError(err);
  return new TidelineError(e.code, `${context}: ${e.message}`, e.data);
}
