/**
 * The Graph stand-in's message templates of the WhatsApp Business Account (`npm run setup` creates
 * them, `npm run doctor` reads them), as Meta's WhatsApp Business Management API documents them:
 *
 *   GET    /{waba-id}/message_templates[?name=&language=&status=&fields=&limit=&after=]
 *          → {data: [{name, components, language, status, category, id}], paging: {cursors: {before, after}}}
 *   POST   /{waba-id}/message_templates {name, language, category, components[, parameter_format]}
 *          → {id, status, category}
 *   DELETE /{waba-id}/message_templates?name=…[&hsm_id=…] → {success: true} (every language of that name)
 *
 * Checks Meta makes on create: name of lowercase letters, digits and underscores (≤ 512); category
 * UTILITY | MARKETING | AUTHENTICATION; exactly one BODY; a HEADER of format TEXT at most one variable;
 * variables numbered {{1}}..{{n}} in order; every variable has its example (BODY `example.body_text`
 * [[…]], HEADER `example.header_text` […], a URL button `example` […]); one template per name and
 * language (#100, subcode 2388024). Status values: APPROVED, PENDING, REJECTED, PAUSED, DISABLED,
 * IN_APPEAL, PENDING_DELETION, DELETED, LIMIT_EXCEEDED, ARCHIVED. A new template here is APPROVED at
 * once (utility templates often are), unless the control route set the review outcome:
 *
 *   GET  /_standin/templates                                     every template
 *   POST /_standin/templates/review {status}                     outcome of the next creations (APPROVED | PENDING | REJECTED)
 *   POST /_standin/templates/:name/status {status, language?}   change a template's status (Meta's review, a pause)
 */
import { randomBytes } from 'node:crypto';

export type TemplateStatus =
  | 'APPROVED' | 'PENDING' | 'REJECTED' | 'PAUSED' | 'DISABLED' | 'IN_APPEAL' | 'PENDING_DELETION' | 'DELETED' | 'LIMIT_EXCEEDED' | 'ARCHIVED';
const STATUSES: readonly TemplateStatus[] = ['APPROVED', 'PENDING', 'REJECTED', 'PAUSED', 'DISABLED', 'IN_APPEAL', 'PENDING_DELETION', 'DELETED', 'LIMIT_EXCEEDED', 'ARCHIVED'];

export interface TemplateComponentDef {
  type: 'HEADER' | 'BODY' | 'FOOTER' | 'BUTTONS';
  format?: string;
  text?: string;
  example?: { body_text?: string[][]; header_text?: string[] };
  buttons?: Array<{ type: string; text: string; url?: string; example?: string[] }>;
}

export interface StoredTemplate {
  id: string;
  name: string;
  language: string;
  status: TemplateStatus;
  category: 'UTILITY' | 'MARKETING' | 'AUTHENTICATION';
  components: TemplateComponentDef[];
  parameter_format?: 'POSITIONAL' | 'NAMED';
}

export type GraphAnswer = { status: number; body: unknown };
type ErrorBody = { message: string; type: string; code: number; error_subcode?: number; error_user_title?: string; error_user_msg?: string };

const fbtrace = () => `A${randomBytes(11).toString('base64url')}`;
const error = (status: number, e: ErrorBody): GraphAnswer => ({ status, body: { error: { ...e, fbtrace_id: fbtrace() } } });
const invalid = (msg: string, subcode?: number): GraphAnswer =>
  error(400, { message: '(#100) Invalid parameter', type: 'OAuthException', code: 100, ...(subcode ? { error_subcode: subcode } : {}), error_user_title: 'Invalid parameter', error_user_msg: msg });

/** Numbers of the {{n}} variables of a text, in order of appearance. */
const variables = (text: string | undefined) => [...(text ?? '').matchAll(/\{\{\s*(\d+)\s*\}\}/g)].map((m) => Number(m[1]));

function checkNumbering(where: string, text: string | undefined): string | undefined {
  const vars = variables(text);
  const distinct = [...new Set(vars)].sort((a, b) => a - b);
  if (distinct.some((n, i) => n !== i + 1)) return `${where}: variables must be numbered {{1}} to {{${distinct.length}}} without gaps`;
  return undefined;
}

/** Meta's checks on a template definition; the reason, or undefined when it is accepted. */
function validate(body: Record<string, unknown>): string | undefined {
  if (typeof body.name !== 'string' || !/^[a-z0-9_]{1,512}$/.test(body.name)) return 'name must be lowercase letters, numbers and underscores';
  if (typeof body.language !== 'string' || !/^[a-z]{2,3}(_[A-Z]{2})?$/.test(body.language)) return 'language must be a language code such as en or en_US';
  if (!['UTILITY', 'MARKETING', 'AUTHENTICATION'].includes(String(body.category))) return 'category must be UTILITY, MARKETING or AUTHENTICATION';
  if (!Array.isArray(body.components)) return 'components is required';
  const components = body.components as TemplateComponentDef[];
  const bodies = components.filter((c) => c?.type === 'BODY');
  if (bodies.length !== 1) return 'a template needs exactly one BODY component';
  for (const c of components) {
    if (!['HEADER', 'BODY', 'FOOTER', 'BUTTONS'].includes(c?.type)) return `unknown component type ${String(c?.type)}`;
    if (c.type === 'BODY') {
      if (typeof c.text !== 'string' || !c.text.trim() || c.text.length > 1024) return 'BODY text is required (at most 1024 characters)';
      const bad = checkNumbering('BODY', c.text);
      if (bad) return bad;
      const n = new Set(variables(c.text)).size;
      const ex = c.example?.body_text?.[0];
      if (n > 0 && (!Array.isArray(ex) || ex.length !== n || ex.some((v) => typeof v !== 'string' || !v)))
        return `BODY has ${n} variable(s): example.body_text must give one sample value for each`;
    }
    if (c.type === 'HEADER') {
      if (c.format !== 'TEXT') continue; // media headers take a handle; the shop sends none
      if (typeof c.text !== 'string' || !c.text.trim() || c.text.length > 60) return 'HEADER text is required (at most 60 characters)';
      const n = new Set(variables(c.text)).size;
      if (n > 1) return 'a TEXT HEADER takes at most one variable';
      if (n === 1 && (!Array.isArray(c.example?.header_text) || c.example.header_text.length !== 1)) return 'HEADER has a variable: example.header_text must give its sample value';
    }
    if (c.type === 'FOOTER' && (typeof c.text !== 'string' || variables(c.text).length > 0)) return 'FOOTER text is required and takes no variables';
    if (c.type === 'BUTTONS') {
      if (!Array.isArray(c.buttons) || c.buttons.length === 0) return 'BUTTONS needs buttons';
      for (const b of c.buttons) {
        if (typeof b.text !== 'string' || !b.text || b.text.length > 25) return 'button text is required (at most 25 characters)';
        if (b.type === 'URL') {
          if (typeof b.url !== 'string' || !/^https?:\/\/[^\s]+$/.test(b.url)) return 'a URL button needs a url (http:// or https://)';
          const n = variables(b.url).length;
          if (n > 1 || (n === 1 && !/\{\{1\}\}$/.test(b.url))) return 'a URL button takes one variable, {{1}}, at the end of its url';
          if (n === 1 && (!Array.isArray(b.example) || b.example.length !== 1)) return 'a URL button with a variable needs example: [a full sample url]';
        }
      }
    }
  }
  return undefined;
}

export interface TemplatesEndpoint {
  /** The Graph API side, for a WABA node's `message_templates` edge; undefined when the request is not this endpoint's. */
  api(method: string, nodeId: string, edge: string | undefined, query: URLSearchParams, body: Record<string, unknown>): GraphAnswer | undefined;
  /** The control side (/_standin/templates...). */
  control(method: string, rest: string[], body: Record<string, unknown>): GraphAnswer | undefined;
  list(): StoredTemplate[];
  /** Templates the account has already (as if created and reviewed before): for a test or the local inbox. */
  seed(list: StoredTemplate[]): void;
}

export function templatesEndpoint(opts: { wabaId: string }): TemplatesEndpoint {
  const templates: StoredTemplate[] = [];
  let reviewOutcome: TemplateStatus = 'APPROVED';
  const FIELDS = ['name', 'components', 'language', 'status', 'category', 'id', 'parameter_format'] as const;

  const api: TemplatesEndpoint['api'] = (method, nodeId, edge, query, body) => {
    if (edge !== 'message_templates' || nodeId !== opts.wabaId) return undefined;
    if (method === 'GET') {
      const fields = (query.get('fields') ?? 'name,components,language,status,category,id').split(',').map((f) => f.trim());
      const matches = templates.filter(
        (t) =>
          t.status !== 'DELETED' &&
          (!query.get('name') || t.name === query.get('name')) &&
          (!query.get('language') || t.language === query.get('language')) &&
          (!query.get('status') || t.status === query.get('status')),
      );
      const limit = Math.min(Math.max(Number(query.get('limit') ?? 25) || 25, 1), 100);
      const start = query.get('after') ? Number(Buffer.from(query.get('after')!, 'base64url').toString()) : 0;
      const page = matches.slice(start, start + limit).map((t) => Object.fromEntries(FIELDS.filter((f) => fields.includes(f) || f === 'id').filter((f) => t[f] !== undefined).map((f) => [f, t[f]])));
      const cursor = (n: number) => Buffer.from(String(n)).toString('base64url');
      const paging: Record<string, unknown> = { cursors: { before: cursor(start), after: cursor(start + page.length) } };
      if (start + limit < matches.length) paging.next = `…/message_templates?after=${cursor(start + page.length)}`;
      return { status: 200, body: { data: page, paging } };
    }
    if (method === 'POST') {
      const problem = validate(body);
      if (problem) return invalid(problem);
      if (templates.some((t) => t.name === body.name && t.language === body.language && t.status !== 'DELETED'))
        return error(400, {
          message: '(#100) Invalid parameter',
          type: 'OAuthException',
          code: 100,
          error_subcode: 2388024,
          error_user_title: 'Content in this language already exists',
          error_user_msg: `There is already ${String(body.language)} content for this template. You can create a new template and try again.`,
        });
      const t: StoredTemplate = {
        id: String(1_000_000_000_000_000n + BigInt(templates.length + 1) * 7919n),
        name: body.name as string,
        language: body.language as string,
        status: reviewOutcome,
        category: body.category as StoredTemplate['category'],
        components: structuredClone(body.components as TemplateComponentDef[]),
        ...(body.parameter_format ? { parameter_format: body.parameter_format as 'POSITIONAL' | 'NAMED' } : {}),
      };
      templates.push(t);
      return { status: 200, body: { id: t.id, status: t.status, category: t.category } };
    }
    if (method === 'DELETE') {
      const name = query.get('name') ?? (body.name as string | undefined);
      if (!name) return invalid('name is required');
      const hsm = query.get('hsm_id');
      const hits = templates.filter((t) => t.name === name && (!hsm || t.id === hsm) && t.status !== 'DELETED');
      if (!hits.length) return invalid(`Message template "${name}" does not exist`, 2593002);
      for (const t of hits) t.status = 'DELETED';
      return { status: 200, body: { success: true } };
    }
    return undefined;
  };

  const control: TemplatesEndpoint['control'] = (method, rest, body) => {
    if (method === 'GET' && rest.length === 0) return { status: 200, body: templates };
    const status = String(body.status ?? '') as TemplateStatus;
    if (method === 'POST' && rest.length === 1 && rest[0] === 'review') {
      if (!['APPROVED', 'PENDING', 'REJECTED'].includes(status)) return { status: 400, body: { error: { message: 'status: APPROVED | PENDING | REJECTED' } } };
      reviewOutcome = status;
      return { status: 200, body: { review: reviewOutcome } };
    }
    if (method === 'POST' && rest.length === 2 && rest[1] === 'status') {
      if (!STATUSES.includes(status)) return { status: 400, body: { error: { message: `status: one of ${STATUSES.join(', ')}` } } };
      const hits = templates.filter((t) => t.name === rest[0] && (!body.language || t.language === body.language));
      for (const t of hits) t.status = status;
      return { status: hits.length ? 200 : 404, body: { updated: hits.length } };
    }
    return undefined;
  };

  const seed = (list: StoredTemplate[]) => {
    for (const t of list) if (!templates.some((x) => x.name === t.name && x.language === t.language)) templates.push(structuredClone(t));
  };
  return { api, control, list: () => structuredClone(templates), seed };
}
