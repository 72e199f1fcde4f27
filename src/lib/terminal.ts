/**
 * Text from the topology or the host made safe to print on a terminal: control characters (an
 * escape sequence could rewrite the screen or the title) shown as \u001b and the like. Newlines
 * and tabs, which kvmctl's own messages use, stay.
 */
export function escapeControl(text: string): string {
  return text.replace(
    /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
}
