import { getConfig } from '../config.js';
import { invalidRequest } from '../errors.js';
import type { OutgoingMessage, TemplateComponent } from '../messaging/messages.js';
import { templateRegistry } from '../messaging/templates.js';
import { listMessageTemplates, type GraphTemplate } from './graph.js';

/**
 * The templates staff may send outside the 24-hour window: the WABA's APPROVED ones from Graph's
 * message_templates when WHATSAPP_WABA_ID is set, else the shop's own (lib/messaging/templates.ts,
 * as configured). Each with its parameters in order (header, body, URL button) and their count, which a send
 * must match (Meta would answer 132000).
 */
export type ShopTemplate = { name: string; language: string; text: string; header: number; body: number; urlButton: number };

export async function approvedTemplates(): Promise<ShopTemplate[]> {
  const waba = getConfig().WHATSAPP_WABA_ID;
  if (waba) return (await listMessageTemplates(waba)).filter((t) => t.status === 'APPROVED').map(fromGraph);
  const language = getConfig().TEMPLATE_LANGUAGE;
  return Object.values(templateRegistry).map((s) => ({ name: s.configName(), language, text: s.text, header: s.header, body: s.body, urlButton: s.urlButton }));
}

const countParams = (text: string | undefined) => new Set([...(text ?? '').matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1])).size;

function fromGraph(t: GraphTemplate): ShopTemplate {
  const header = t.components.find((c) => c.type === 'HEADER' && (c.format ?? 'TEXT') === 'TEXT');
  const body = t.components.find((c) => c.type === 'BODY');
  const url = t.components.find((c) => c.type === 'BUTTONS')?.buttons?.find((b) => b.type === 'URL');
  return { name: t.name, language: t.language, text: body?.text ?? '', header: countParams(header?.text), body: countParams(body?.text), urlButton: countParams(url?.url) };
}

/** The template message with `parameters` in order (header, body, URL button); a wrong count is a 422 naming the expected one. */
export function buildStaffTemplate(templates: ShopTemplate[], name: string, language: string | undefined, parameters: string[]): OutgoingMessage {
  const t = templates.find((x) => x.name === name && (!language || x.language === language));
  if (!t) throw invalidRequest([{ path: 'template', message: `is not an approved template of this shop (${templates.map((x) => `${x.name}/${x.language}`).join(', ') || 'none'})` }]);
  const expected = t.header + t.body + t.urlButton;
  if (parameters.length !== expected) throw invalidRequest([{ path: 'parameters', message: `${t.name} takes ${expected} parameter(s), ${parameters.length} given` }]);
  const empty = parameters.findIndex((p) => p.trim() === '');
  if (empty >= 0) throw invalidRequest([{ path: `parameters[${empty}]`, message: 'must not be empty' }]);
  const text = (values: string[]) => values.map((v) => ({ type: 'text' as const, text: v }));
  const components: TemplateComponent[] = [];
  if (t.header) components.push({ type: 'header', parameters: text(parameters.slice(0, t.header)) });
  if (t.body) components.push({ type: 'body', parameters: text(parameters.slice(t.header, t.header + t.body)) });
  if (t.urlButton) components.push({ type: 'button', sub_type: 'url', index: 0, parameters: text(parameters.slice(t.header + t.body)) });
  return { type: 'template', name: t.name, language: t.language, components };
}
