/** One set of ajv options for the validator compiled at build time and the fallback compiled at run time. */
export const AJV_OPTIONS = { allErrors: true, verbose: true, strict: true, allowUnionTypes: true } as const
/** x-hint: the sentence a user reads when a value does not match a pattern. */
export const AJV_VOCABULARY = ['x-hint']
