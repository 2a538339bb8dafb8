/** Line and column inside the file being parsed; the file is known from context. */
export interface Pos {
  line: number
  column: number
}

export type Piece =
  | { kind: 'text'; text: string; pos: Pos } // unquoted
  | { kind: 'string'; text: string; pos: Pos } // quoted or triple-quoted
  | { kind: 'ws'; text: string; pos: Pos } // whitespace between two pieces of one value
  | { kind: 'subst'; path: string[]; optional: boolean; text: string; pos: Pos }
  | { kind: 'object'; fields: Field[]; pos: Pos }
  | { kind: 'array'; items: Value[]; pos: Pos }

/** One value as written: several pieces form a concatenation (`${dir}"/log"`). */
export interface Value {
  pieces: Piece[]
  pos: Pos
}

export type Field =
  | { kind: 'field'; path: string[]; append: boolean; value: Value; pos: Pos }
  | { kind: 'include'; name: string; required: boolean; pos: Pos }
