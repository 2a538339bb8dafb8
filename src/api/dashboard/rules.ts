// EMQX 5.8's rules for dashboard user names and passwords (emqx_dashboard_admin): a name of letters, digits
// and underscores; a password of 8 to 64 ASCII characters from at least two of the groups letters, digits
// and specials. Each refusal says which rule was broken.

const NAME = /^[A-Za-z0-9_]+$/
export const MAX_NAME_LENGTH = 100
const LETTER = /[A-Za-z]/
const DIGIT = /[0-9]/
const SPECIAL = /[!@#$%^&*()_+\-=[\]{}"|;':,./<>?`~ ]/
// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\x00-\x7f]/

/** Why `name` cannot be a dashboard user name, or null. */
export function badUsername (name: string): string | null {
  if (name === '') return 'the user name is empty'
  if (name.length > MAX_NAME_LENGTH) return `the user name is longer than ${MAX_NAME_LENGTH} characters`
  if (!NAME.test(name)) return 'bad user name: only upper and lower case letters, digits and underscores are allowed'
  return null
}

/** Why `password` cannot be a dashboard password, or null. */
export function badPassword (password: string): string | null {
  if (password.length < 8 || password.length > 64) return 'bad password: it must be 8 to 64 characters long'
  const kinds = [LETTER, DIGIT, SPECIAL].filter((kind) => kind.test(password)).length
  if (kinds < 2) return 'bad password: it must mix at least two kinds of characters among letters, digits and special characters (letters only need a digit or a special character)'
  if (NON_ASCII.test(password)) return 'bad password: only ASCII characters are allowed'
  return null
}
