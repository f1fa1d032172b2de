/** RFC 8693 §2.2.1 success body (wire format, snake_case). */
export interface TokenResponse {
  access_token: string;
  issued_token_type: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
}
