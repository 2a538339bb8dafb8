// A whole new order for the authorization sources or an authenticator chain (EMQX's PUT
// /authorization/sources/order and /authentication/order): the list must name every member exactly once.

/** What is wrong with a wanted order; null when it names every member once. */
export interface OrderProblem {
  /** Named, but not a member. */
  notFound: string[]
  /** Named more than once. */
  repeated: string[]
  /** Members not named (EMQX: "no positions are specified"). */
  missing: string[]
}

export function orderProblem (members: readonly string[], wanted: readonly string[]): OrderProblem | null {
  const have = new Set(members)
  const seen = new Set<string>()
  const problem: OrderProblem = { notFound: [], repeated: [], missing: [] }
  for (const id of wanted) {
    if (!have.has(id)) {
      if (!problem.notFound.includes(id)) problem.notFound.push(id)
    } else if (seen.has(id)) {
      if (!problem.repeated.includes(id)) problem.repeated.push(id)
    }
    seen.add(id)
  }
  problem.missing = members.filter((id) => !seen.has(id))
  return problem.notFound.length + problem.repeated.length + problem.missing.length === 0 ? null : problem
}

/** EMQX's message, e.g. "Authorization sources: http are not found, No positions are specified for authorization sources: file". */
export function orderMessage (problem: OrderProblem, noun: string): string {
  const parts: string[] = []
  if (problem.notFound.length > 0) parts.push(`${noun}: ${problem.notFound.join(', ')} are not found`)
  if (problem.repeated.length > 0) parts.push(`${noun}: ${problem.repeated.join(', ')} are named more than once`)
  if (problem.missing.length > 0) parts.push(`No positions are specified for ${noun.toLowerCase()}: ${problem.missing.join(', ')}`)
  return parts.join(', ')
}
