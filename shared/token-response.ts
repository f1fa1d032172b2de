/** RFC 8693 §2.2.1 success body (wire format, snake_case). */
export interface TokenResponse {
  access_token: string;
  issued_token_type: string;
  /** `N_A` for an ID token: it is not an OAuth access token (RFC 8693 §2.2.1). */
  token_type: 'Bearer' | 'N_A';
  expires_in: number;
  /** Access tokens only. */
  scope?: string;
}
