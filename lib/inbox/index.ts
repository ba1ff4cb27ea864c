/** The team inbox (docs/inbox.md): conversations, staff answers, media, templates, retention. */
export { getConversation, listConversations, setMode } from './store.js';
export { conversationListQuery, modeRequest } from './requests.js';
export { markConversationRead, sendStaffMessage, showTyping, staffMessageRequest } from './send.js';
export { customerMedia, type MediaFile } from './media.js';
export { approvedTemplates } from './templates.js';
