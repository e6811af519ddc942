/**
 * @postern/address: Postfix's address handling (RFC 822 tokenizer, local-part
 * quoting, address extensions, the mail_addr_find/mail_addr_map lookup order)
 * and the RFC 5322 date of message headers.
 */
export * from './addr-find.js';
export * from './address.js';
export { tok822Scan, tok822Externalize, tok822Internalize, tok822SplitList } from './tok822.js';
export type { Tok822, Tok822Type } from './tok822.js';
export { mailDate } from './date.js';
export { contentType, decodeLine, headerInfo, headerName, type HeaderInfo } from './header.js';
