import { linkPlanInput, planLink } from '../../app/planner';
import { toErrorView } from '../lib/errors';
import type { PlanJob, PlanOutcome, PlanReply } from './planner-messages';

/*
 * The planner off the main thread: a week at one-minute steps with its least-bandwidth
 * searches takes long enough to stall the page's frames if run there.
 */

function run(job: PlanJob): PlanOutcome {
  const { request } = job;
  const after = linkPlanInput(request);
  const { draft, ...applied } = request;
  const before = linkPlanInput(applied);
  let vpgAdvice;
  if (job.adviseVpgId !== undefined && draft !== undefined) {
    const vpg = after.input.vpgs.find((v) => v.vpgId === job.adviseVpgId);
    if (vpg !== undefined) {
      const { policy: _own, ...alone } = vpg;
      vpgAdvice = planLink({ ...after.input, linkPolicy: draft.policy, vpgs: [alone] });
    }
  }
  return {
    after: planLink(after.input),
    before: planLink(before.input),
    ...(vpgAdvice !== undefined && { vpgAdvice }),
    timeZone: after.timeZone,
    measuredMinutes: after.measuredMinutes,
  };
}

// The renderer is typed against the DOM; a worker's global has just these two of its own.
const scope = self as unknown as {
  onmessage: ((event: MessageEvent<PlanJob>) => void) | null;
  postMessage(reply: PlanReply): void;
};
scope.onmessage = (event) => {
  const job = event.data;
  let reply: PlanReply;
  try {
    reply = { id: job.id, ok: true, outcome: run(job) };
  } catch (err) {
    reply = { id: job.id, ok: false, error: toErrorView(err) };
  }
  scope.postMessage(reply);
};
